/**
 * At most one refusal event per worker and reason per window: a peer can
 * cause refusals at will, and each would be a write. The refusals left out are
 * counted and carried by the next one recorded (`repeated`).
 */
export class RefusalLimit {
  readonly #last = new Map<string, { atMs: number; suppressed: number }>();

  constructor(
    private readonly windowMs: number,
    /** Workers remembered at most; past it the memory starts afresh (a refusal more is then recorded). */
    private readonly maxWorkers = 10_000,
  ) {}

  /** Whether to record this refusal now, and how many were left out before it. */
  allow(workerId: string, reason: string, nowMs: number): { record: true; repeated: number } | { record: false } {
    const key = `${workerId}\u0000${reason}`;
    const seen = this.#last.get(key);
    if (seen !== undefined && nowMs - seen.atMs < this.windowMs) {
      seen.suppressed += 1;
      return { record: false };
    }
    if (seen === undefined && this.#last.size >= this.maxWorkers) this.#last.clear();
    this.#last.set(key, { atMs: nowMs, suppressed: 0 });
    return { record: true, repeated: seen?.suppressed ?? 0 };
  }
}
