import { expect, test } from 'vitest';
import { every, wait } from './clock.js';
import { ManualClock } from './test-support/fakes.js';

test('every() calls back once per period until stopped', () => {
  const clock = new ManualClock();
  const calls: number[] = [];
  const start = clock.monoMs;
  const stop = every(clock, 100, () => calls.push(clock.monoMs - start));
  clock.advance(350);
  expect(calls).toEqual([100, 200, 300]);
  stop();
  clock.advance(1_000);
  expect(calls).toHaveLength(3);
  expect(clock.pendingTimers).toBe(0);
});

test('wait() resolves after its delay, or at once when woken', async () => {
  const clock = new ManualClock();
  let done = false;
  const first = wait(clock, 100);
  void first.done.then(() => (done = true));
  await clock.advanceAsync(99);
  expect(done).toBe(false);
  await clock.advanceAsync(1);
  expect(done).toBe(true);
  const second = wait(clock, 1_000);
  second.wake();
  await second.done;
  expect(clock.pendingTimers).toBe(0);
});
