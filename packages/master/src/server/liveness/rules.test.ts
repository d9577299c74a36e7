import { describe, expect, test } from 'vitest';
import { LivenessTracker, type LivenessSubject, overdueWorkers, pingDecisionNotBeforeMs, pongOverdue, shouldPing, stalledMs } from './rules.js';

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

/** A live session as the tracker reads it; `hear` is a message of it at `now`. */
function subject(workerId: string): LivenessSubject & { lastActivityMs: number } {
  return { workerId, lastActivityMs: 0, livenessSeenAtMs: undefined };
}

describe('LivenessTracker', () => {
  test('takeOverdue takes what it returns; seen refreshes; forget stops tracking', () => {
    let now = 0;
    const tracker = new LivenessTracker(() => now);
    const live = [subject('a'), subject('b')];
    const [a, b] = live as [ReturnType<typeof subject>, ReturnType<typeof subject>];
    const c = subject('c');
    for (const s of [a, b, c]) tracker.admitted(s);
    // c's session ended abnormally: tracked apart from the live sessions.
    tracker.ended(c);
    now = 800;
    b.lastActivityMs = 800;
    tracker.seen(b);
    tracker.forget('c');
    now = 1_001;
    expect(tracker.takeOverdue(1_000, live)).toEqual(['a']);
    expect(tracker.takeOverdue(1_000, live)).toEqual([]);
    now = 1_801;
    expect(tracker.takeOverdue(1_000, live)).toEqual(['b']);
    expect(tracker.takeOverdue(1_000, live)).toEqual([]);
    expect(tracker.endedSize).toBe(0);
  });

  test('a session that ended abnormally is judged from its last message until its worker is back; a hello takes over', () => {
    let now = 0;
    const tracker = new LivenessTracker(() => now);
    const first = subject('w');
    tracker.admitted(first);
    now = 300;
    first.lastActivityMs = 300;
    tracker.seen(first);
    // The connection drops (no goodbye): the session leaves the live ones, the worker stays tracked.
    tracker.ended(first);
    expect(tracker.endedSize).toBe(1);
    now = 1_300;
    expect(tracker.takeOverdue(1_000, [])).toEqual([]);
    now = 1_301;
    expect(tracker.takeOverdue(1_000, [])).toEqual(['w']);
    expect(tracker.endedSize).toBe(0);

    // Dropped again, and back before the timeout: the new session is what counts, once.
    now = 1_400;
    const second = subject('w');
    second.lastActivityMs = 1_400;
    tracker.admitted(second);
    tracker.ended(second);
    const third = subject('w');
    now = 1_500;
    third.lastActivityMs = 1_500;
    tracker.admitted(third);
    expect(tracker.endedSize).toBe(0);
    now = 2_450;
    expect(tracker.takeOverdue(1_000, [third])).toEqual([]);
    now = 2_501;
    expect(tracker.takeOverdue(1_000, [third])).toEqual(['w']);
    // Taken: its session, still open, is not flagged again for the same silence, nor once it ends.
    now = 4_000;
    expect(tracker.takeOverdue(1_000, [third])).toEqual([]);
    tracker.ended(third);
    now = 6_000;
    expect(tracker.takeOverdue(1_000, [])).toEqual([]);
  });

  test('a heartbeat reads no clock: the time is the session\'s lastActivityMs, in running time', () => {
    let reads = 0;
    const tracker = new LivenessTracker(() => {
      reads += 1;
      return 5_000;
    });
    tracker.discount(1_000);
    const s = subject('w');
    s.lastActivityMs = 4_200;
    tracker.admitted(s);
    for (let i = 0; i < 100; i += 1) tracker.seen(s);
    expect(reads).toBe(0);
    expect(s.livenessSeenAtMs).toBe(3_200);
  });

  test('a worker first seen after a walk that found nobody overdue is still flagged at its own timeout', () => {
    let now = 0;
    const tracker = new LivenessTracker(() => now);
    const old = subject('old');
    tracker.admitted(old);
    tracker.ended(old);
    now = 500;
    expect(tracker.takeOverdue(1_000, [])).toEqual([]);
    tracker.forget('old');
    now = 700;
    const fresh = subject('new');
    fresh.lastActivityMs = 700;
    tracker.admitted(fresh);
    now = 1_001;
    expect(tracker.takeOverdue(1_000, [fresh])).toEqual([]);
    now = 1_700;
    expect(tracker.takeOverdue(1_000, [fresh])).toEqual([]);
    now = 1_701;
    expect(tracker.takeOverdue(1_000, [fresh])).toEqual(['new']);
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
    const a = subject('a');
    tracker.admitted(a);
    now = 5_000;
    tracker.discount(4_500);
    expect(tracker.takeOverdue(1_000, [a])).toEqual([]);
    now = 5_501;
    expect(tracker.takeOverdue(1_000, [a])).toEqual(['a']);
  });
});
