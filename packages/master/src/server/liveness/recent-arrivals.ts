/**
 * Workers whose agent this master admitted at the upgrade (token checked)
 * within the last heartbeat timeout, whether or not its session got as far as
 * a hello: during a restart storm an agent queued behind thousands of others
 * may give up waiting for its welcome and come back seconds later, while its
 * document still shows the silence before the restart. Such a worker was not
 * silent for a timeout (its agent knocked), so the stale sweep spares it; one
 * timeout after its last arrival it is judged like any other again.
 */
export class RecentArrivals {
  /** Worker id → monotonic time of its latest arrival, oldest first. */
  readonly #at = new Map<string, number>();

  /** The worker's agent was admitted at the upgrade at `monotonicMs`. */
  note(workerId: string, monotonicMs: number): void {
    // Delete first: the map stays in arrival order, so pruning stops at the first recent one.
    this.#at.delete(workerId);
    this.#at.set(workerId, monotonicMs);
  }

  /** The workers that arrived within `timeoutMs` before `nowMs`; older entries are dropped. */
  within(nowMs: number, timeoutMs: number): string[] {
    for (const [id, at] of this.#at) {
      if (nowMs - at <= timeoutMs) break;
      this.#at.delete(id);
    }
    return [...this.#at.keys()];
  }
}
