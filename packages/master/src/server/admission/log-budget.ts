import type { Clock, Timer } from '../clock.js';

export interface LogBudgetOptions {
  /** Lines allowed per key in one window; 0 or less: no limit. */
  perWindow: number;
  windowMs: number;
  clock: Pick<Clock, 'monotonic' | 'setTimeout' | 'clearTimeout'>;
  /** Told, once per window that had any, how many lines of a key were left out. */
  onSuppressed(key: string, count: number): void;
}

interface Window {
  startMs: number;
  used: number;
  suppressed: number;
}

/**
 * Caps log lines that a peer can cause at will (refused requests), per key
 * (the reason), so a flood of one kind neither fills the journal nor hides
 * the other kinds. What is left out is summed up in one line per key shortly
 * after the window ends; the metrics count every event regardless.
 */
export class LogBudget {
  readonly #windows = new Map<string, Window>();
  #timer: Timer | undefined;

  constructor(private readonly options: LogBudgetOptions) {}

  /** True when a line for `key` may be written now; otherwise it is counted as suppressed. */
  allow(key: string): boolean {
    const { perWindow, windowMs, clock } = this.options;
    if (perWindow <= 0) return true;
    const now = clock.monotonic();
    let window = this.#windows.get(key);
    if (window === undefined || now - window.startMs >= windowMs) {
      if (window !== undefined && window.suppressed > 0) this.options.onSuppressed(key, window.suppressed);
      window = { startMs: now, used: 0, suppressed: 0 };
      this.#windows.set(key, window);
    }
    if (window.used < perWindow) {
      window.used += 1;
      return true;
    }
    window.suppressed += 1;
    // The summary must come even if nothing else is logged afterwards; it never holds the process open.
    this.#timer ??= clock.setTimeout(() => this.flush(), Math.max(0, window.startMs + windowMs - now));
    this.#timer.unref();
    return false;
  }

  /** Reports what was suppressed so far (close() and the timer call it). */
  flush(): void {
    this.options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const now = this.options.clock.monotonic();
    for (const [key, window] of this.#windows) {
      if (window.suppressed > 0) this.options.onSuppressed(key, window.suppressed);
      window.suppressed = 0;
      if (now - window.startMs >= this.options.windowMs) this.#windows.delete(key);
    }
  }
}
