/**
 * The Retry-After a starting master gives, spread over what it can admit.
 *
 * A restarted master meets its whole fleet while its admission view loads
 * (all the more since it binds its port first: server/early-listener.ts). Told
 * one fixed wait, every refused agent comes back inside the same window (the
 * agent waits [wait, 2·wait)): at 19,000 agents and 2 s that is ~9,500
 * upgrades a second, far past what one master admits, and the last of them
 * wait past their welcome timeout and come again. So each refusal books a
 * return: the waits told grow with the refusals already booked, `perSecond`
 * of them per second of wait. A small fleet is told `minMs` as before; a big
 * one is spread up to `maxMs`, and no further: the agent never waits past its
 * reconnect cap (10 s), and a wait past half of it would pile returns at the
 * cap instead of spreading them (the agent's window [wait, 2·wait) is cut there).
 */
export interface RetrySpreadOptions {
  /** The wait told to the first refusals (the master's loadingRetryAfterMs). */
  minMs: number;
  /** The longest wait told. */
  maxMs: number;
  /** Returns booked per second of wait: about what the master admits in a second. */
  perSecond: number;
  /** Monotonic milliseconds. */
  now: () => number;
}

export class RetrySpread {
  /** When the next booked return falls (monotonic ms); bookings older than now are spent. */
  #nextAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: RetrySpreadOptions) {}

  /** The wait (whole seconds) to tell this refusal, and its return booked. */
  nextS(): number {
    const { minMs, maxMs, perSecond, now } = this.options;
    const at = now();
    // A return is due no sooner than minMs from now, nor before those already booked.
    const due = Math.max(at + minMs, this.#nextAt);
    // Past maxMs every refusal is told maxMs: the bookings stop there rather than run ahead of later ones.
    this.#nextAt = Math.min(due + 1_000 / perSecond, at + maxMs);
    const waitMs = Math.min(maxMs, due - at);
    // The plain wait rounded up (as loadingRetryAfterMs always was), a booked one to its second.
    return Math.max(1, Math.ceil(minMs / 1_000), Math.floor(waitMs / 1_000));
  }
}
