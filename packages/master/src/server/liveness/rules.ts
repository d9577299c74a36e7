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
 * What the tracker reads and keeps on a live session (AgentSession): it holds
 * its worker's last-seen time itself, so that a heartbeat costs a field write
 * rather than a map update (one per beat, 2,000 a second at 10,000 agents).
 */
export interface LivenessSubject {
  readonly workerId: string;
  /** Monotonic time of the session's last message, read in the same task as the message. */
  readonly lastActivityMs: number;
  /** Running time (see LivenessTracker) the worker was last heard from here; undefined: not tracked (never seen, or taken as overdue). */
  livenessSeenAtMs: number | undefined;
}

/**
 * Last-seen times of the workers whose agents talked to this master, in its
 * running time. A worker with a current session is tracked on that session
 * (seen: a field write); one whose session ended abnormally (its agent may be
 * dead) is kept here until it is overdue or comes back; a clean goodbye, an
 * unregistration or a flag drops it.
 */
export class LivenessTracker {
  /** Workers whose current session ended abnormally: their last-seen time, until overdue or back. */
  readonly #ended = new Map<string, number>();
  /** Time the master was stalled (see stalledMs), not counted as anyone's silence. */
  #discountedMs = 0;
  /**
   * No tracked worker was seen before this (running time): the oldest entry
   * at the last walk, or that walk's time when none was left. Seen times only
   * move later, a session starts at the present, and an ended one keeps its
   * time, so it stays a lower bound, and takeOverdue walks nobody until this
   * is older than the timeout.
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

  /** Workers kept apart from the live sessions (their session ended abnormally). */
  get endedSize(): number {
    return this.#ended.size;
  }

  /**
   * A message of the worker's current session, just received: its time is the
   * session's lastActivityMs (read for the message, so no clock read here),
   * in running time. The discount moves only at a liveness tick, never
   * between the message's arrival and this call.
   */
  seen(session: LivenessSubject): void {
    session.livenessSeenAtMs = session.lastActivityMs - this.#discountedMs;
  }

  /** The hello of the worker's new current session: tracked on it from now on. */
  admitted(session: LivenessSubject): void {
    this.seen(session);
    this.#ended.delete(session.workerId);
  }

  /** The worker's current session ended abnormally: its silence keeps counting from its last message. */
  ended(session: LivenessSubject): void {
    const seenAt = session.livenessSeenAtMs;
    session.livenessSeenAtMs = undefined;
    if (seenAt !== undefined) this.#ended.set(session.workerId, seenAt);
  }

  /** A goodbye, a master's close that flags at once, an unregistration: the worker is no longer tracked (its session, if any, is gone). */
  forget(workerId: string): void {
    this.#ended.delete(workerId);
  }

  /**
   * Removes from tracking and returns the workers not heard from for longer
   * than `timeoutMs`: the current sessions (`live`) and the ended ones.
   * Walks them only when one may be overdue: at steady state (all beating)
   * about once per timeout less interval, not at every tick.
   */
  takeOverdue(timeoutMs: number, live: Iterable<LivenessSubject>): string[] {
    const now = this.#now();
    if (now - this.#oldestSeenAtMs <= timeoutMs) return [];
    const overdue = overdueWorkers(this.#ended, now, timeoutMs);
    for (const id of overdue) this.#ended.delete(id);
    let oldest = now;
    for (const seenAt of this.#ended.values()) if (seenAt < oldest) oldest = seenAt;
    for (const session of live) {
      const seenAt = session.livenessSeenAtMs;
      if (seenAt === undefined) continue;
      if (now - seenAt > timeoutMs) {
        overdue.push(session.workerId);
        session.livenessSeenAtMs = undefined;
      } else if (seenAt < oldest) {
        oldest = seenAt;
      }
    }
    this.#oldestSeenAtMs = oldest;
    return overdue;
  }
}
