import type { Logger } from 'pino';
import type { Clock } from './clock.js';

/** What the log may say about a database error: never the error object itself (it can carry a URI). */
export function describeError(error: unknown): { name: string; message: string; code?: unknown } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return code === undefined ? { name: error.name, message: error.message } : { name: error.name, message: error.message, code };
  }
  return { name: 'Error', message: String(error) };
}

/**
 * Whether the database answered lately. Every registry call reports here, so
 * an outage is logged once (error, with the retry delay) and its end once
 * (info), and /readyz can answer without a query of its own.
 */
export class DbHealth {
  #ok = false;
  #outageSinceMs: number | undefined;
  #recoveredAtMs: number | undefined;
  readonly #outageListeners: (() => void)[] = [];

  constructor(
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {}

  /** True when the last registry operation succeeded. */
  get ok(): boolean {
    return this.#ok;
  }

  /** True from a failure until the next success (false before the first operation). */
  get failing(): boolean {
    return this.#outageSinceMs !== undefined;
  }

  /** Monotonic time of the first success after an outage; undefined if there was none. */
  get recoveredAtMs(): number | undefined {
    return this.#recoveredAtMs;
  }

  /** Called when an outage begins (the first failure after a success, or before any). */
  onOutage(listener: () => void): void {
    this.#outageListeners.push(listener);
  }

  success(op: string): void {
    if (this.#outageSinceMs !== undefined) {
      const now = this.clock.monotonic();
      this.logger.info({ op, outage_ms: Math.round(now - this.#outageSinceMs) }, 'database reachable again');
      this.#outageSinceMs = undefined;
      this.#recoveredAtMs = now;
    }
    this.#ok = true;
  }

  failure(op: string, error: unknown, retryInMs: number | undefined): void {
    this.#ok = false;
    if (this.#outageSinceMs === undefined) {
      this.#outageSinceMs = this.clock.monotonic();
      this.logger.error({ op, error: describeError(error), retry_in_ms: retryInMs }, 'database error; retrying with backoff');
      for (const listener of this.#outageListeners) listener();
    } else {
      this.logger.debug({ op, error: describeError(error), retry_in_ms: retryInMs }, 'database still failing');
    }
  }
}
