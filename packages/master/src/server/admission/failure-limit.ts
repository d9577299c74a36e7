import type { Clock } from '../clock.js';
import type { ServerOptions } from '../options.js';

export interface FailureLimitOptions {
  clock: Pick<Clock, 'monotonic'>;
  /** The window failures are counted in (fixed windows, per address and in total). */
  windowMs: number;
  /** Failures one address may cause in a window; past it, its requests are refused before any work. */
  perAddress: number;
  /** Failures all addresses together may cause in a window; past it, failures cost no database read. */
  total: number;
  /** Addresses remembered at most (the oldest window is forgotten first), so a spread flood cannot grow the map. */
  maxAddresses: number;
}

/**
 * Counts failed authentications (refused upgrades of unknown workers or wrong
 * tokens, refused admin credentials) per source address and in total, in
 * fixed windows. An address over its share is refused before any work is done
 * for it; when the total is over, the callers stop asking the database about
 * credentials they do not already know, so a flood from many addresses costs
 * a bounded number of reads per window, not one per request.
 */
export class FailureLimit {
  readonly #addresses = new Map<string, { windowStartMs: number; count: number }>();
  #totalWindowStartMs = Number.NEGATIVE_INFINITY;
  #total = 0;

  constructor(private readonly options: FailureLimitOptions) {}

  /**
   * The address has failed too often in this window: refuse it without
   * looking further. `unsettled` are its checks still in flight, counted as
   * failures until they end (a caller whose check awaits the database passes
   * them, so parallel guesses cannot all pass before the first is recorded).
   */
  blocked(address: string | undefined, unsettled = 0): boolean {
    const entry = this.#addresses.get(address ?? '');
    const failed = entry !== undefined && this.#current(entry.windowStartMs) ? entry.count : 0;
    return failed + unsettled >= this.options.perAddress;
  }

  /** All addresses together have failed too often in this window (`unsettled`: checks in flight, as for blocked). */
  saturatedWith(unsettled: number): boolean {
    const failed = this.#current(this.#totalWindowStartMs) ? this.#total : 0;
    return failed + unsettled >= this.options.total;
  }

  /** All addresses together have failed too often in this window. */
  get saturated(): boolean {
    return this.saturatedWith(0);
  }

  record(address: string | undefined): void {
    const now = this.options.clock.monotonic();
    if (!this.#current(this.#totalWindowStartMs)) {
      this.#totalWindowStartMs = now;
      this.#total = 0;
    }
    this.#total += 1;
    const key = address ?? '';
    const entry = this.#addresses.get(key);
    if (entry !== undefined && this.#current(entry.windowStartMs)) {
      entry.count += 1;
      return;
    }
    this.#addresses.delete(key);
    if (this.#addresses.size >= this.options.maxAddresses) {
      const oldest = this.#addresses.keys().next();
      if (oldest.done !== true) this.#addresses.delete(oldest.value);
    }
    this.#addresses.set(key, { windowStartMs: now, count: 1 });
  }

  #current(windowStartMs: number): boolean {
    return this.options.clock.monotonic() - windowStartMs < this.options.windowMs;
  }
}

/** A FailureLimit with the master's options (one for upgrades, one for admin requests). */
export function failureLimitFor(
  options: Pick<ServerOptions, 'failedAuthWindowMs' | 'failedAuthPerAddress' | 'failedAuthTotal'>,
  clock: Pick<Clock, 'monotonic'>,
): FailureLimit {
  return new FailureLimit({
    clock,
    windowMs: options.failedAuthWindowMs,
    perAddress: options.failedAuthPerAddress,
    total: options.failedAuthTotal,
    maxAddresses: 10_000,
  });
}
