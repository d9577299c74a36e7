import { describe, expect, test } from 'vitest';
import { RecentArrivals } from './recent-arrivals.js';

describe('RecentArrivals', () => {
  test('a worker is listed for one timeout after its latest arrival, then dropped', () => {
    const arrivals = new RecentArrivals();
    arrivals.note('a', 0);
    arrivals.note('b', 500);
    arrivals.note('a', 800); // came again: judged from its latest arrival
    expect(arrivals.within(1_000, 1_000)).toEqual(['b', 'a']);
    expect(arrivals.within(1_500, 1_000)).toEqual(['b', 'a']);
    expect(arrivals.within(1_501, 1_000)).toEqual(['a']);
    expect(arrivals.within(1_801, 1_000)).toEqual([]);
  });
});
