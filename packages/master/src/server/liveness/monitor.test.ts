import { describe, expect, test } from 'vitest';
import type { AgentSession } from '../session/agent-session.js';
import { LivenessMonitor, type MonitoredHost } from './monitor.js';
import { LivenessTracker } from './rules.js';
import { SessionTable } from '../session/session-table.js';
import { ManualClock } from '../test-support/fakes.js';

const INTERVAL = 1_500;
const TIMEOUT = 2_000;
const TICK = 250;

function setup() {
  const clock = new ManualClock();
  const tracker = new LivenessTracker(clock.monotonic);
  const flagged: { ids: string[]; atMs: number }[] = [];
  const host: MonitoredHost = {
    sessions: new SessionTable<AgentSession>(),
    flagInactive: (ids) => flagged.push({ ids, atMs: clock.monoMs }),
  };
  const monitor = new LivenessMonitor({
    tracker,
    host,
    clock,
    heartbeatIntervalMs: INTERVAL,
    heartbeatTimeoutMs: TIMEOUT,
    tickMs: TICK,
  });
  /** Moves the clock tick by tick for `ms`, ticking the monitor as its timer would. */
  const run = (ms: number): void => {
    for (let passed = 0; passed < ms; passed += TICK) {
      clock.advance(TICK);
      monitor.tick();
    }
  };
  return { clock, tracker, flagged, run };
}

describe('LivenessMonitor', () => {
  test('a silent worker is flagged at the first tick after the timeout, not an interval later', () => {
    const { clock, tracker, flagged, run } = setup();
    tracker.seen('w1');
    const lastSeen = clock.monoMs;
    run(TIMEOUT);
    expect(flagged).toEqual([]);
    run(TICK);
    expect(flagged).toEqual([{ ids: ['w1'], atMs: lastSeen + TIMEOUT + TICK }]);
    // Once: it is no longer tracked.
    run(INTERVAL + TIMEOUT);
    expect(flagged).toHaveLength(1);
  });

  test('a worker heard from again is judged from its latest message', () => {
    const { clock, tracker, flagged, run } = setup();
    tracker.seen('w1');
    run(INTERVAL);
    tracker.seen('w1');
    const lastSeen = clock.monoMs;
    run(TIMEOUT);
    expect(flagged).toEqual([]);
    run(TICK);
    expect(flagged.map((f) => f.atMs - lastSeen)).toEqual([TIMEOUT + TICK]);
  });
});
