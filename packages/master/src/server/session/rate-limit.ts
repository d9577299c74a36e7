/**
 * A token bucket: `burst` messages at once, refilled at `perSecond`. One per
 * connection; an agent beating every few seconds never comes near it.
 */
export class TokenBucket {
  #tokens: number;
  #lastMs: number;

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly monotonic: () => number,
  ) {
    this.#tokens = burst;
    this.#lastMs = monotonic();
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    const now = this.monotonic();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#lastMs) / 1000) * this.perSecond);
    this.#lastMs = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
