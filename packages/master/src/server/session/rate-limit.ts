/**
 * A token bucket: `burst` messages at once, refilled at `perSecond`. One per
 * connection; an agent beating every few seconds never comes near it.
 */
export class TokenBucket {
  #tokens: number;
  #lastMs: number;

  /** `nowMs`: monotonic time the bucket starts full. */
  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    nowMs: number,
  ) {
    this.#tokens = burst;
    this.#lastMs = nowMs;
  }

  /** Takes one token at monotonic time `now` (the caller's one clock read for the message); false when the bucket is empty. */
  take(now: number): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#lastMs) / 1000) * this.perSecond);
    this.#lastMs = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
