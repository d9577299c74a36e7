/**
 * Which of the workers this master has heard from are overdue: their last
 * message (monotonic ms) is older than the timeout. Pure, so it is tested
 * without timers.
 */
export function overdueWorkers(lastSeen: ReadonlyMap<string, number>, nowMs: number, timeoutMs: number): string[] {
  const overdue: string[] = [];
  for (const [id, seenAt] of lastSeen) {
    if (nowMs - seenAt > timeoutMs) overdue.push(id);
  }
  return overdue;
}

/** Whether a socket that has been quiet since `lastActivityMs` should get a ping now. */
export function shouldPing(lastActivityMs: number, pingSentAtMs: number | undefined, nowMs: number, idleMs: number): boolean {
  return pingSentAtMs === undefined && nowMs - lastActivityMs > idleMs;
}

/** Whether a ping sent at `pingSentAtMs` has gone unanswered too long. */
export function pongOverdue(pingSentAtMs: number | undefined, nowMs: number, waitMs: number): boolean {
  return pingSentAtMs !== undefined && nowMs - pingSentAtMs > waitMs;
}

/**
 * In-memory last-seen times of the workers whose agents talked to this master.
 * A worker stays tracked after an abnormal close (its agent may be dead), and
 * is dropped after a clean goodbye, an unregistration, or once flagged.
 */
export class LivenessTracker {
  readonly #lastSeen = new Map<string, number>();

  constructor(private readonly monotonic: () => number) {}

  get size(): number {
    return this.#lastSeen.size;
  }

  seen(workerId: string): void {
    this.#lastSeen.set(workerId, this.monotonic());
  }

  forget(workerId: string): void {
    this.#lastSeen.delete(workerId);
  }

  /** Removes and returns the workers not heard from for longer than `timeoutMs`. */
  takeOverdue(timeoutMs: number): string[] {
    const overdue = overdueWorkers(this.#lastSeen, this.monotonic(), timeoutMs);
    for (const id of overdue) this.#lastSeen.delete(id);
    return overdue;
  }
}
