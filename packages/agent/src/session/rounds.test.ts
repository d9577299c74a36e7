import { describe, expect, it } from 'vitest';
import type { RetryOptions } from './backoff.js';
import { createMasterRounds, type EndForRounds } from './rounds.js';

const retry: RetryOptions = { baseMs: 1_000, capMs: 8_000, refusedRetryMs: 60_000, stableConnectionMs: 30_000 };
const URLS = ['ws://a/agent', 'ws://b/agent', 'ws://c/agent'];
const failed: EndForRounds = { reaction: 'retry', welcomed: false, connectedMs: 0, shuttingDown: false };
const lost = (connectedMs: number): EndForRounds => ({ reaction: 'retry', welcomed: true, connectedMs, shuttingDown: false });

/**
 * Draws for a list of three: the first two make the agent's order (0.99 twice:
 * the list's own order, a → b → c), then `then` for every later draw (jitter).
 */
const inListOrder = (then: number | number[] = 0.5): (() => number) => {
  const draws = [0.99, 0.99, ...(Array.isArray(then) ? then : [])];
  return () => draws.shift() ?? (Array.isArray(then) ? 0.9 : then);
};

/** A small deterministic generator (LCG), so the spread test is the same on every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

describe('master rounds', () => {
  it('each agent tries the masters in an order of its own, drawn once: its start is the first of it', () => {
    expect(createMasterRounds(URLS, retry, inListOrder()).url).toBe('ws://a/agent');
    // 0 and 0: a and c swapped (c, b, a), then c and b (b, c, a).
    const draws = [0, 0];
    const rounds = createMasterRounds(URLS, retry, () => draws.shift() ?? 0.5);
    expect([rounds.url, rounds.next(failed).url, rounds.next(failed).url]).toEqual(['ws://b/agent', 'ws://c/agent', 'ws://a/agent']);
  });

  it('a fleet given one list spreads over it, and when a master dies its agents spread over the survivors', () => {
    const random = seeded(42);
    const starts = new Map<string, number>();
    const movedFromA = new Map<string, number>();
    for (let agent = 0; agent < 3_000; agent += 1) {
      const rounds = createMasterRounds(URLS, retry, random);
      starts.set(rounds.url, (starts.get(rounds.url) ?? 0) + 1);
      if (rounds.url === 'ws://a/agent') {
        const next = rounds.next(lost(60_000)).url;
        movedFromA.set(next, (movedFromA.get(next) ?? 0) + 1);
      }
    }
    for (const url of URLS) expect(starts.get(url)).toBeGreaterThan(900);
    // Both survivors take a fair share of a's agents (in list order, b would take them all).
    const fromA = starts.get('ws://a/agent') ?? 0;
    expect(movedFromA.get('ws://b/agent')).toBeGreaterThan(fromA * 0.4);
    expect(movedFromA.get('ws://c/agent')).toBeGreaterThan(fromA * 0.4);
  });

  it('a round ending on a master that asked to retry later (Retry-After) waits that long, its backoff not grown', () => {
    const starting: EndForRounds = { ...failed, retryAfterMs: 2_000 };
    const rounds = createMasterRounds(URLS, retry, inListOrder(0.5));
    expect(rounds.next(failed)).toMatchObject({ delayMs: 0 });
    expect(rounds.next(failed)).toMatchObject({ delayMs: 0 });
    // The third of the round is starting: 2 s + 0.5 × 2 s, attempt still 0.
    expect(rounds.next(starting)).toMatchObject({ delayMs: 3_000, attempt: 0, slow: false });
    for (let i = 0; i < 6; i += 1) rounds.next(i % 3 === 2 ? starting : failed);
    // After three more such rounds, a plain failed round is still the first backoff step.
    rounds.next(failed);
    rounds.next(failed);
    expect(rounds.next(failed)).toMatchObject({ delayMs: 500, attempt: 1 });
  });

  it('tries every master of a round at once, then backs off once for the whole round', () => {
    const rounds = createMasterRounds(URLS, retry, inListOrder());
    expect(rounds.url).toBe('ws://a/agent');
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://b/agent', delayMs: 0 });
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://c/agent', delayMs: 0 });
    // Round 1 over: full jitter in [0, base).
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://a/agent', delayMs: 500, attempt: 1 });
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://b/agent', delayMs: 0 });
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://c/agent', delayMs: 0 });
    // Round 2 over: the window doubled.
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://a/agent', delayMs: 1_000, attempt: 2 });
  });

  it('keeps the single-master backoff unchanged: every failure is a round', () => {
    const rounds = createMasterRounds(['ws://only/agent'], retry, () => 0.5);
    const delays = Array.from({ length: 6 }, () => rounds.next(failed).delayMs);
    expect(delays).toEqual([500, 1_000, 2_000, 4_000, 4_000, 4_000]);
    expect(rounds.url).toBe('ws://only/agent');
  });

  it('after a lost session moves to the next master after the backoff, the round starting there', () => {
    const rounds = createMasterRounds(URLS, retry, inListOrder());
    rounds.next(failed); // b
    expect(rounds.next(lost(60_000))).toMatchObject({ url: 'ws://c/agent', delayMs: 500, attempt: 1 }); // stable: window reset
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://a/agent', delayMs: 0 });
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://b/agent', delayMs: 0 });
    expect(rounds.next(failed)).toMatchObject({ url: 'ws://c/agent', delayMs: 1_000, attempt: 2 });
  });

  it('on 4503 (the master stops) moves to another master at once, jittered within the base window', () => {
    const rounds = createMasterRounds(URLS, retry, inListOrder([0.25]));
    expect(rounds.url).toBe('ws://a/agent');
    expect(rounds.next({ ...lost(100), shuttingDown: true })).toMatchObject({ url: 'ws://b/agent', delayMs: 250, slow: false });
  });

  it('a refusal only an admin can fix waits the slow delay, whatever the round', () => {
    const rounds = createMasterRounds(URLS, retry, inListOrder());
    expect(rounds.next({ ...failed, reaction: 'retry-slowly' })).toMatchObject({ url: 'ws://b/agent', delayMs: 60_000, slow: true });
    expect(rounds.next({ ...lost(100), reaction: 'retry-slowly', shuttingDown: true })).toMatchObject({ delayMs: 60_000, slow: true });
  });

  it('needs at least one URL', () => {
    expect(() => createMasterRounds([], retry, Math.random)).toThrow(/at least one master URL/);
  });
});
