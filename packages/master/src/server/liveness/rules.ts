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
 * A time before which neither shouldPing nor pongOverdue can say yes for a
 * socket in this state, whatever it receives meanwhile: a message moves
 * `lastActivityMs` later and clears the ping; a pong clears the ping but
 * leaves `lastActivityMs` (so a socket pinged for its quiet may need a ping
 * again as soon as it answers). Lets the monitor skip the ticks at which no
 * session can be due.
 */
export function pingDecisionNotBeforeMs(lastActivityMs: number, pingSentAtMs: number | undefined, idleMs: number, waitMs: number): number {
  const quietAtMs = lastActivityMs + idleMs;
  return pingSentAtMs === undefined ? quietAtMs : Math.min(quietAtMs, pingSentAtMs + waitMs);
}

/**
 * How much of the time between two liveness ticks the master itself was
 * stalled (its event loop busy: a reconnect storm, a long synchronous task):
 * none while ticks come within twice their period, else everything beyond
 * one period. Messages that arrived during a stall sit unread in the socket
 * buffers, and Node runs the timer of the late tick before it reads them:
 * judging silence across the stall would flag live workers (and terminate
 * their sockets, whose reconnects stall the master again).
 */
export function stalledMs(gapMs: number, tickMs: number): number {
  return gapMs > 2 * tickMs ? gapMs - tickMs : 0;
}

/**
 * In-memory last-seen times of the workers whose agents talked to this master.
 * A worker stays tracked after an abnormal close (its agent may be dead), and
 * is dropped after a clean goodbye, an unregistration, or once flagged.
 */
export class LivenessTracker {
  readonly #lastSeen = new Map<string, number>();
  /** Time the master was stalled (see stalledMs), not counted as anyone's silence. */
  #discountedMs = 0;
  /**
   * No tracked worker was seen before this (running time): the oldest entry
   * at the last walk, or that walk's time when none was left. seen() only
   * moves entries later and adds them at the present, so it stays a lower
   * bound, and takeOverdue walks nobody until this is older than the timeout.
   */
  #oldestSeenAtMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly monotonic: () => number) {}

  /** The master's running time: monotonic time less its own stalls. */
  #now(): number {
    return this.monotonic() - this.#discountedMs;
  }

  /** The master was stalled this long: nobody's silence grows by it. */
  discount(ms: number): void {
    this.#discountedMs += ms;
  }

  get size(): number {
    return this.#lastSeen.size;
  }

  seen(workerId: string): void {
    this.#lastSeen.set(workerId, this.#now());
  }

  forget(workerId: string): void {
    this.#lastSeen.delete(workerId);
  }

  /**
   * Removes and returns the workers not heard from for longer than `timeoutMs`.
   * Walks the workers only when one may be overdue: at steady state (all
   * beating) about once per timeout less interval, not at every tick.
   */
  takeOverdue(timeoutMs: number): string[] {
    const now = this.#now();
    if (now - this.#oldestSeenAtMs <= timeoutMs) return [];
    const overdue = overdueWorkers(this.#lastSeen, now, timeoutMs);
    for (const id of overdue) this.#lastSeen.delete(id);
    let oldest = now;
    for (const seenAt of this.#lastSeen.values()) if (seenAt < oldest) oldest = seenAt;
    this.#oldestSeenAtMs = oldest;
    return overdue;
  }
}
