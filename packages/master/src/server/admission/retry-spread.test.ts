import { describe, expect, test } from 'vitest';
import { RetrySpread } from './retry-spread.js';

function spread(perSecond: number) {
  let nowMs = 1_000_000;
  const s = new RetrySpread({ minMs: 2_000, maxMs: 5_000, perSecond, now: () => nowMs });
  return { s, advance: (ms: number) => (nowMs += ms) };
}

describe('RetrySpread', () => {
  test('a few refusals are told the plain wait, as before', () => {
    const { s } = spread(1_000);
    expect(Array.from({ length: 100 }, () => s.nextS())).toEqual(Array.from({ length: 100 }, () => 2));
  });

  test('a fleet refused at once is told waits growing by a second per perSecond refusals, up to maxMs', () => {
    const { s } = spread(1_000);
    const told = Array.from({ length: 19_000 }, () => s.nextS());
    const count = (wait: number): number => told.filter((w) => w === wait).length;
    // The first 1,000 returns fall within 2 s, the next 1,000 within 3 s, …; the rest are told the most.
    expect([count(2), count(3), count(4), count(5)]).toEqual([1_000, 1_000, 1_000, 16_000]);
    expect(Math.max(...told)).toBe(5);
  });

  test('bookings already due are spent: after the returns fell due, the plain wait again', () => {
    const { s, advance } = spread(1_000);
    for (let i = 0; i < 5_000; i += 1) s.nextS();
    expect(s.nextS()).toBe(5);
    advance(5_000);
    expect(s.nextS()).toBe(2);
  });
});
