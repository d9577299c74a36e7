import type { Logger } from 'pino';
import { retryDelayMs } from './backoff.js';
import { wait, type Clock } from './clock.js';
import type { DbHealth } from './db-health.js';
import type { RegistryPort } from './ports.js';

export interface StartupDeps {
  /** Connects the database client (see CreateMasterOptions.connect); absent: connected already. */
  connect?: (() => Promise<unknown>) | undefined;
  registry: Pick<RegistryPort, 'ensureCollections'>;
  /** The stale sweep of workers nobody served while no master ran; before the view loads, hence before any admission. */
  sweepAtStart(): Promise<void>;
  /** The first load of the admission view; false when it failed. */
  loadView(): Promise<boolean>;
  health: DbHealth;
  logger: Logger;
  clock: Clock;
  retryBaseMs: number;
  retryCapMs: number;
}

/**
 * The master's start-up after it listens: connect, ensure the collections,
 * the start-up sweep, the first view load; each step once it worked, the
 * whole retried with backoff until the view is loaded or stop() is called.
 * Until then admissions are refused 503.
 */
export class Startup {
  #stopped = false;
  #wake: (() => void) | undefined;

  constructor(private readonly deps: StartupDeps) {}

  /** Resolves true once the view is loaded, false when stopped first. */
  async run(): Promise<boolean> {
    const { deps } = this;
    let attempt = 0;
    let connected = deps.connect === undefined;
    let collectionsReady = false;
    let sweptAtStart = false;
    while (!this.#stopped) {
      try {
        if (!connected) {
          await deps.connect?.();
          connected = true;
        }
        if (!collectionsReady) {
          await deps.registry.ensureCollections();
          collectionsReady = true;
        }
        if (!sweptAtStart) {
          await deps.sweepAtStart();
          sweptAtStart = true;
        }
        if (await deps.loadView()) return !this.#stopped;
      } catch (error) {
        if (this.#stopped) return false; // close() closed the client under us
        deps.health.failure(connected ? 'ensure_collections' : 'connect', error, retryDelayMs(attempt, deps.retryBaseMs, deps.retryCapMs));
      }
      if (this.#stopped) return false;
      const delay = retryDelayMs(attempt, deps.retryBaseMs, deps.retryCapMs);
      attempt += 1;
      if (attempt === 1) deps.logger.warn({ retry_in_ms: delay }, 'registry not loaded; admissions refused (503) until it is');
      const pause = wait(deps.clock, delay);
      this.#wake = pause.wake;
      await pause.done;
      this.#wake = undefined;
    }
    return false;
  }

  /** Ends the loop at its next step, at once if it is waiting. */
  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }
}
