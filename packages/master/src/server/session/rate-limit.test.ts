import { expect, test } from 'vitest';
import { TokenBucket } from './rate-limit.js';

test('burst at once, then perSecond', () => {
  const bucket = new TokenBucket(3, 10, 0);
  expect([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, true, false]);
  expect([bucket.take(100), bucket.take(100)]).toEqual([true, false]);
  expect([bucket.take(10_000), bucket.take(10_000), bucket.take(10_000), bucket.take(10_000)]).toEqual([true, true, true, false]);
});
