import { beforeEach, expect, test } from 'vitest';
import { ManualClock } from '../test-support/fakes.js';
import { LogBudget } from './log-budget.js';

let clock = new ManualClock();
let reports: [string, number][] = [];
const budget = (perWindow = 3): LogBudget =>
  new LogBudget({ perWindow, windowMs: 1_000, clock, onSuppressed: (key, count) => reports.push([key, count]) });

beforeEach(() => {
  clock = new ManualClock();
  reports = [];
});

/** Moves the budget's clock and fires its timers. */
function advance(ms: number): void {
  clock.advance(ms);
}

test('perWindow lines per key per window; the rest are summed up once the window ends', () => {
  const b = budget();
  expect(Array.from({ length: 5 }, () => b.allow('a'))).toEqual([true, true, true, false, false]);
  // Another key has its own budget: a flood of one kind hides no other kind.
  expect(b.allow('b')).toBe(true);
  expect(reports).toEqual([]);
  advance(1_000);
  expect(reports).toEqual([['a', 2]]);
  expect(b.allow('a')).toBe(true);
});

test('the summary comes even when nothing is logged afterwards, and only once', () => {
  const b = budget(1);
  b.allow('a');
  b.allow('a');
  advance(999);
  expect(reports).toEqual([]);
  advance(1);
  expect(reports).toEqual([['a', 1]]);
  advance(5_000);
  expect(reports).toEqual([['a', 1]]);
  expect(clock.pendingTimers).toBe(0);
});

test('flush() reports at once and stops the timer (close)', () => {
  const b = budget(1);
  b.allow('a');
  b.allow('a');
  b.allow('a');
  b.flush();
  expect(reports).toEqual([['a', 2]]);
  expect(clock.pendingTimers).toBe(0);
  b.flush();
  expect(reports).toEqual([['a', 2]]);
});

test('perWindow 0 means no limit', () => {
  const b = budget(0);
  expect(Array.from({ length: 100 }, () => b.allow('a')).every(Boolean)).toBe(true);
  expect(clock.pendingTimers).toBe(0);
});
