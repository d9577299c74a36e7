import { describe, expect, it } from 'vitest';
import type { RetryOptions } from './backoff.js';
import { createMasterRounds, type EndForRounds } from './rounds.js';

const retry: RetryOptions = { baseMs: 1_000, capMs: 8_000, refusedRetryMs: 60_000, stableConnectionMs: 30_000 };
const URLS = ['ws://a/agent', 'ws://b/agent', 'ws://c/agent'];
const failed: EndForRounds = { reaction: 'retry', welcomed: false, connectedMs: 0, shuttingDown: false };
const lost = (connectedMs: number): EndForRounds => ({ reaction: 'retry', welcomed: true, connectedMs, shuttingDown: false });

describe('master rounds', () => {
  it('starts at the master the random draw picks, so a fleet given one list spreads over it', () => {
    expect(createMasterRounds(URLS, retry, () => 0).url).toBe('ws://a/agent');
    expect(createMasterRounds(URLS, retry, () => 0.4).url).toBe('ws://b/agent');
    expect(createMasterRounds(URLS, retry, () => 1 - Number.EPSILON).url).toBe('ws://c/agent');
  });

  it('tries every master of a round at once, then backs off once for the whole round', () => {
    const rounds = createMasterRounds(URLS, retry, () => 0.5);
    expect(rounds.url).toBe('ws://b/agent');
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://c/agent', delayMs: 0 });
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://a/agent', delayMs: 0 });
    // Round 1 over: full jitter in [0, base).
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://b/agent', delayMs: 500, attempt: 1 });
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://c/agent', delayMs: 0 });
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://a/agent', delayMs: 0 });
    // Round 2 over: the window doubled.
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://b/agent', delayMs: 1_000, attempt: 2 });
  });

  it('keeps the single-master backoff unchanged: every failure is a round', () => {
    const rounds = createMasterRounds(['ws://only/agent'], retry, () => 0.5);
    const delays = Array.from({ length: 6 }, () => rounds.next(failed).delayMs);
    expect(delays).toEqual([500, 1_000, 2_000, 4_000, 4_000, 4_000]);
    expect(rounds.url).toBe('ws://only/agent');
  });

  it('after a lost session moves to the next master after the backoff, the round starting there', () => {
    const rounds = createMasterRounds(URLS, retry, () => 0.5);
    rounds.next(failed); // c
    expect(rounds.next(lost(60_000))).toMatchObject({ url: 'ws://a/agent', delayMs: 500, attempt: 1 }); // stable: window reset
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://b/agent', delayMs: 0 });
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://c/agent', delayMs: 0 });
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://a/agent', delayMs: 1_000, attempt: 2 });
  });

  it('on 4503 (the master stops) moves to another master at once, jittered within the base window', () => {
    const draws = [0, 0.25];
    const rounds = createMasterRounds(URLS, retry, () => draws.shift() ?? 0.9);
    expect(rounds.url).toBe('ws://a/agent');
    expect(rounds.next({ ...lost(100), shuttingDown: true })).toMatchObject({ url: 'ws://b/agent', delayMs: 250, slow: false });
  });

  it('a refusal only an admin can fix waits the slow delay, whatever the round', () => {
    const rounds = createMasterRounds(URLS, retry, () => 0.5);
    expect(rounds.next({ ...failed, reaction: 'retry-slowly' })).toMatchObject({ url: 'ws://c/agent', delayMs: 60_000, slow: true });
    expect(rounds.next({ ...lost(100), reaction: 'retry-slowly', shuttingDown: true })).toMatchObject({ delayMs: 60_000, slow: true });
  });

  it('needs at least one URL', () => {
    expect(() => createMasterRounds([], retry, Math.random)).toThrow(/at least one master URL/);
  });
});
