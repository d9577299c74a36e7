import { DEFAULTS } from '@cluster/protocol';
import { describe, expect, it } from 'vitest';
import { hintedDelayMs, masterSilenceLimitMs, parseRetryAfterMs, planRetry, reconnectDelayMs, type RetryOptions } from './backoff.js';

const backoff = { baseMs: 1_000, capMs: 10_000 };
const retry: RetryOptions = { ...backoff, refusedRetryMs: 60_000, stableConnectionMs: 30_000 };
const ALMOST_ONE = 1 - Number.EPSILON;

describe('reconnectDelayMs (full jitter)', () => {
  it.each([
    [0, 1_000],
    [1, 2_000],
    [2, 4_000],
    [3, 8_000],
    [4, 10_000],
    [10, 10_000],
    [1_000, 10_000],
    [1e9, 10_000],
  ])('attempt %i waits between 0 and %i ms', (attempt, ceiling) => {
    expect(reconnectDelayMs(attempt, backoff, () => 0)).toBe(0);
    expect(reconnectDelayMs(attempt, backoff, () => ALMOST_ONE)).toBe(ceiling - 1);
    expect(reconnectDelayMs(attempt, backoff, () => 0.5)).toBe(ceiling / 2);
  });

  it('spreads real random draws over the whole window and never past the cap', () => {
    const draws = Array.from({ length: 5_000 }, () => reconnectDelayMs(6, backoff, Math.random));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(10_000);
    // Uniform: some draws in the lowest and in the highest tenth.
    expect(draws.some((d) => d < 1_000)).toBe(true);
    expect(draws.some((d) => d >= 9_000)).toBe(true);
  });

  it('treats a negative attempt as the first', () => {
    expect(reconnectDelayMs(-3, backoff, () => ALMOST_ONE)).toBe(999);
  });

  it('uses the protocol defaults of about 1 s and 10 s', () => {
    expect(reconnectDelayMs(0, { baseMs: DEFAULTS.reconnectBaseMs, capMs: DEFAULTS.reconnectCapMs }, () => ALMOST_ONE)).toBe(999);
    expect(reconnectDelayMs(50, { baseMs: DEFAULTS.reconnectBaseMs, capMs: DEFAULTS.reconnectCapMs }, () => ALMOST_ONE)).toBe(9_999);
  });
});

describe('planRetry', () => {
  it('backs off further with each failure in a row', () => {
    let attempt = 0;
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const plan = planRetry({ attempt, reaction: 'retry', connectedMs: 0 }, retry, () => ALMOST_ONE);
      delays.push(plan.delayMs);
      expect(plan.slow).toBe(false);
      attempt = plan.attempt;
    }
    expect(delays).toEqual([999, 1_999, 3_999, 7_999, 9_999, 9_999]);
    expect(attempt).toBe(6);
  });

  it('starts over after a connection that stayed up for the stable time', () => {
    const shaky = planRetry({ attempt: 5, reaction: 'retry', connectedMs: 29_999 }, retry, () => ALMOST_ONE);
    expect(shaky).toEqual({ delayMs: 9_999, attempt: 6, slow: false });
    const stable = planRetry({ attempt: 5, reaction: 'retry', connectedMs: 30_000 }, retry, () => ALMOST_ONE);
    expect(stable).toEqual({ delayMs: 999, attempt: 1, slow: false });
  });

  it.each(['retry-slowly', 'upgrade-agent'] as const)('waits about a minute (±20 %%) after %s', (reaction) => {
    expect(planRetry({ attempt: 0, reaction, connectedMs: 0 }, retry, () => 0)).toEqual({ delayMs: 48_000, attempt: 1, slow: true });
    expect(planRetry({ attempt: 0, reaction, connectedMs: 0 }, retry, () => 0.5).delayMs).toBe(60_000);
    expect(planRetry({ attempt: 9, reaction, connectedMs: 0 }, retry, () => ALMOST_ONE).delayMs).toBe(72_000);
  });
});

describe('masterSilenceLimitMs', () => {
  it('is two missed beats, never shorter than the heartbeat timeout', () => {
    expect(masterSilenceLimitMs(5_000, 15_000)).toBe(15_000);
    expect(masterSilenceLimitMs(10_000, 15_000)).toBe(20_000);
    expect(masterSilenceLimitMs(DEFAULTS.heartbeatIntervalMs, DEFAULTS.heartbeatTimeoutMs)).toBe(15_000);
  });
});

describe('the master\'s Retry-After hint', () => {
  it('is read in its delay-seconds form only', () => {
    expect(parseRetryAfterMs('2')).toBe(2_000);
    expect(parseRetryAfterMs(' 0 ')).toBe(0);
    expect(parseRetryAfterMs(undefined)).toBeUndefined();
    expect(parseRetryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT')).toBeUndefined();
    expect(parseRetryAfterMs('-1')).toBeUndefined();
    expect(parseRetryAfterMs('1.5')).toBeUndefined();
    expect(parseRetryAfterMs(['1', '2'])).toBeUndefined();
  });

  it('waits the hint spread over one more, at least the base (a master saying 0 cannot make a fleet spin), never past the cap', () => {
    expect(hintedDelayMs(2_000, backoff, () => 0)).toBe(2_000);
    expect(hintedDelayMs(2_000, backoff, () => ALMOST_ONE)).toBe(3_999);
    expect(hintedDelayMs(0, backoff, () => 0)).toBe(1_000);
    expect(hintedDelayMs(3_600_000, backoff, () => 0.5)).toBe(10_000);
  });
});
