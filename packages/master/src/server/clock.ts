import { performance } from 'node:perf_hooks';

/**
 * Two clocks: wall time (epoch ms) for what is written to the registry, and a
 * monotonic one for deciding how long ago an agent was last heard from, so
 * that a wall-clock step cannot flag or revive anyone.
 */
export interface Clock {
  /** Epoch milliseconds. */
  readonly now: () => number;
  /** Milliseconds from an arbitrary origin; never goes back. */
  readonly monotonic: () => number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};

export function unixSeconds(epochMs: number): number {
  return Math.floor(epochMs / 1000);
}
