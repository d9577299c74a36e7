/**
 * The clock the agent schedules with. Production uses the global timers; tests
 * either fake those (vitest) or pass their own. The defaults look the globals
 * up at call time, so timers faked after this module loaded are still used.
 */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout> | undefined),
};
