import { describe, expect, test } from 'vitest';
import { LivenessTracker, overdueWorkers, pingDecisionNotBeforeMs, pongOverdue, shouldPing, stalledMs } from './rules.js';

describe('overdueWorkers', () => {
  test('older than the timeout, not at it', () => {
    const seen = new Map([
      ['a', 0],
      ['b', 500],
      ['c', 1_000],
    ]);
    expect(overdueWorkers(seen, 1_500, 1_000)).toEqual(['a']);
    expect(overdueWorkers(seen, 1_501, 1_000)).toEqual(['a', 'b']);
    expect(overdueWorkers(seen, 1_000, 1_000)).toEqual([]);
  });
});

describe('ping decisions', () => {
  test('ping a socket quiet for longer than idleMs, once', () => {
    expect(shouldPing(0, undefined, 300, 300)).toBe(false);
    expect(shouldPing(0, undefined, 301, 300)).toBe(true);
    expect(shouldPing(0, 301, 400, 300)).toBe(false);
  });

  test('a ping unanswered for longer than waitMs is overdue', () => {
    expect(pongOverdue(undefined, 10_000, 200)).toBe(false);
    expect(pongOverdue(100, 300, 200)).toBe(false);
    expect(pongOverdue(100, 301, 200)).toBe(true);
  });

  test('no decision before pingDecisionNotBeforeMs, whatever the socket receives meanwhile', () => {
    // Quiet, no ping: nothing before idleMs of quiet.
    expect(pingDecisionNotBeforeMs(1_000, undefined, 300, 200)).toBe(1_300);
    expect(shouldPing(1_000, undefined, 1_300, 300)).toBe(false);
    // Pinged at 1_301 for its quiet: a pong (which leaves lastActivityMs) makes it quiet again at once,
    // so the bound is the quiet time already past, not the pong's deadline.
    expect(pingDecisionNotBeforeMs(1_000, 1_301, 300, 200)).toBe(1_300);
    expect(shouldPing(1_000, undefined, 1_302, 300)).toBe(true);
    // A ping sent while the socket was busy (not the monitor's) is bounded by its deadline.
    expect(pingDecisionNotBeforeMs(1_000, 1_050, 300, 200)).toBe(1_250);
  });
});

describe('LivenessTracker', () => {
  test('takeOverdue removes what it returns; seen refreshes; forget stops tracking', () => {
    let now = 0;
    const tracker = new LivenessTracker(() => now);
    tracker.seen('a');
    tracker.seen('b');
    tracker.seen('c');
    now = 800;
    tracker.seen('b');
    tracker.forget('c');
    now = 1_001;
    expect(tracker.takeOverdue(1_000)).toEqual(['a']);
    expect(tracker.takeOverdue(1_000)).toEqual([]);
    now = 1_801;
    expect(tracker.takeOverdue(1_000)).toEqual(['b']);
    expect(tracker.size).toBe(0);
  });

  test('a worker first seen after a walk that found nobody overdue is still flagged at its own timeout', () => {
    let now = 0;
    const tracker = new LivenessTracker(() => now);
    tracker.seen('old');
    now = 500;
    expect(tracker.takeOverdue(1_000)).toEqual([]);
    tracker.forget('old');
    now = 700;
    tracker.seen('new');
    now = 1_001;
    expect(tracker.takeOverdue(1_000)).toEqual([]);
    now = 1_700;
    expect(tracker.takeOverdue(1_000)).toEqual([]);
    now = 1_701;
    expect(tracker.takeOverdue(1_000)).toEqual(['new']);
  });
});

describe('stalledMs', () => {
  test('ticks within twice their period are no stall; a later one counts all beyond one period', () => {
    expect(stalledMs(250, 250)).toBe(0);
    expect(stalledMs(500, 250)).toBe(0);
    expect(stalledMs(501, 250)).toBe(251);
    expect(stalledMs(10_250, 250)).toBe(10_000);
  });

  test('a discounted stall is not counted as silence by the tracker', () => {
    let now = 0;
    const tracker = new LivenessTracker(() => now);
    tracker.seen('a');
    now = 5_000;
    tracker.discount(4_500);
    expect(tracker.takeOverdue(1_000)).toEqual([]);
    now = 5_501;
    expect(tracker.takeOverdue(1_000)).toEqual(['a']);
  });
});
