import { performance } from 'node:perf_hooks';

/** A pending callback of Clock.setTimeout; unref() lets the process exit while it waits. */
export interface Timer {
  unref(): unknown;
}

/**
 * The master's one source of time, passed in everywhere it reads the time or
 * waits: wall time (epoch ms) for what is written to the registry, a monotonic
 * one for deciding how long ago something happened (so that a wall-clock step
 * cannot flag or revive anyone), and its timers, so that tests move time by
 * hand instead of sleeping.
 */
export interface Clock {
  /** Epoch milliseconds. */
  readonly now: () => number;
  /** Milliseconds from an arbitrary origin; never goes back. */
  readonly monotonic: () => number;
  /** Calls `callback` once, after `delayMs` of monotonic time. */
  readonly setTimeout: (callback: () => void, delayMs: number) => Timer;
  /** Cancels a timer of this clock (undefined or a fired one: nothing). */
  readonly clearTimeout: (timer: Timer | undefined) => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};

/** Calls `callback` every `periodMs` until the returned function is called. */
export function every(clock: Clock, periodMs: number, callback: () => void): () => void {
  let timer: Timer | undefined;
  let stopped = false;
  const arm = (): void => {
    timer = clock.setTimeout(() => {
      if (stopped) return;
      arm();
      callback();
    }, periodMs);
  };
  arm();
  return () => {
    stopped = true;
    clock.clearTimeout(timer);
  };
}

/** Resolves after `delayMs`, or at once when the returned `wake` is called. */
export function wait(clock: Clock, delayMs: number): { done: Promise<void>; wake: () => void } {
  let wake: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    const timer = clock.setTimeout(resolve, delayMs);
    wake = () => {
      clock.clearTimeout(timer);
      resolve();
    };
  });
  return { done, wake };
}

export function unixSeconds(epochMs: number): number {
  return Math.floor(epochMs / 1000);
}
