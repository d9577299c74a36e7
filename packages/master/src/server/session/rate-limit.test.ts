import { expect, test } from 'vitest';
import { TokenBucket } from './rate-limit.js';

test('burst at once, then perSecond', () => {
  let now = 0;
  const bucket = new TokenBucket(3, 10, () => now);
  expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
  now = 100;
  expect([bucket.take(), bucket.take()]).toEqual([true, false]);
  now = 10_000;
  expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
});
