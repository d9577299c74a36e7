import { expect, test } from 'vitest';
import { retryDelayMs } from './backoff.js';

test('doubles from the base up to the cap', () => {
  expect([0, 1, 2, 3, 4, 50].map((n) => retryDelayMs(n, 500, 10_000))).toEqual([500, 1_000, 2_000, 4_000, 8_000, 10_000]);
  expect(retryDelayMs(-1, 500, 10_000)).toBe(500);
});
