import type { Reaction } from '@cluster/protocol/agent-side';

export interface BackoffOptions {
  /** First retry waits up to this long. */
  baseMs: number;
  /** No normal retry waits longer than this. */
  capMs: number;
}

/**
 * Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"): a
 * uniform delay in [0, min(cap, base · 2^attempt)). Thousands of agents that
 * lost the same master spread their reconnects over the window instead of
 * arriving together.
 */
export function reconnectDelayMs(attempt: number, { baseMs, capMs }: BackoffOptions, random: () => number): number {
  // 2^attempt overflows to Infinity long after it passed the cap; min() keeps it finite.
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

export interface RetryOptions extends BackoffOptions {
  /** Delay after a refusal only an admin can fix; jittered by ±20 %. */
  refusedRetryMs: number;
  /** A connection that lived (welcomed) this long resets the backoff. */
  stableConnectionMs: number;
}

export interface RetryPlan {
  delayMs: number;
  /** Failures in a row, including this one: the next plan's `attempt`. */
  attempt: number;
  slow: boolean;
}

/**
 * What to do after a connection ended. `attempt` counts failures in a row so
 * far; `connectedMs` is how long the session was welcomed (0 if never).
 */
export function planRetry(
  input: { attempt: number; reaction: Reaction; connectedMs: number },
  options: RetryOptions,
  random: () => number,
): RetryPlan {
  const attempt = input.connectedMs >= options.stableConnectionMs ? 0 : input.attempt;
  if (input.reaction === 'retry-slowly' || input.reaction === 'upgrade-agent') {
    // Jitter, so that a fleet refused together (a master restored from an old
    // backup, a rotated secret) does not come back in lockstep every minute.
    return { delayMs: Math.round(options.refusedRetryMs * (0.8 + 0.4 * random())), attempt: attempt + 1, slow: true };
  }
  return { delayMs: reconnectDelayMs(attempt, options, random), attempt: attempt + 1, slow: false };
}

/**
 * After the welcome, the master is presumed dead when nothing (ack, pong,
 * ping, any message) arrived for this long: two missed beats, and never less
 * than the timeout after which the master itself gives up on us.
 */
export function masterSilenceLimitMs(heartbeatIntervalMs: number, heartbeatTimeoutMs: number): number {
  return Math.max(2 * heartbeatIntervalMs, heartbeatTimeoutMs);
}

/** HTTP's `Retry-After` in its delay-seconds form (a date is not used by masters); undefined when absent or not that. */
export function parseRetryAfterMs(header: string | string[] | undefined): number | undefined {
  if (typeof header !== 'string' || !/^\s*\d{1,6}\s*$/.test(header)) return undefined;
  return Number(header.trim()) * 1_000;
}

/**
 * The wait after a master answered "not yet, retry after this long" (503 with
 * Retry-After while it loads its registry): the hint, at least `baseMs` (a
 * master saying 0 must not make a fleet spin), spread over one more such
 * period so that a fleet refused together does not come back together, and
 * never past `capMs`. The backoff's attempt count does not grow: the master
 * is there and said when it can take us.
 */
export function hintedDelayMs(retryAfterMs: number, { baseMs, capMs }: BackoffOptions, random: () => number): number {
  const floor = Math.min(capMs, Math.max(baseMs, retryAfterMs));
  return Math.min(capMs, floor + Math.floor(random() * floor));
}
