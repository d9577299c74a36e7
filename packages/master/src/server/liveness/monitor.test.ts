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
  /** The master stalls for `ms` (its event loop busy: no tick runs), then its late tick runs. */
  const stall = (ms: number): void => {
    clock.advance(ms);
    monitor.tick();
  };
  /**
   * The worker's current session (made at its first message, a hello) hears
   * from its agent now, as AgentSession and SessionHost do: the message's
   * time, then the tracker. Pings go unanswered; a cut-off is only noted.
   */
  const live = new Map<string, { workerId: string; lastActivityMs: number; livenessSeenAtMs: number | undefined; pingSentAtMs: undefined; ping(): void; terminate(): void }>();
  const hear = (workerId: string): void => {
    let session = live.get(workerId);
    const first = session === undefined;
    session ??= { workerId, lastActivityMs: 0, livenessSeenAtMs: undefined, pingSentAtMs: undefined, ping: () => undefined, terminate: () => undefined };
    live.set(workerId, session);
    session.lastActivityMs = clock.monoMs;
    if (first) {
      host.sessions.claim(session as unknown as AgentSession);
      tracker.admitted(session);
    } else {
      tracker.seen(session);
    }
  };
  return { clock, tracker, flagged, run, stall, hear };
}

describe('LivenessMonitor', () => {
  test('a silent worker is flagged at the first tick after the timeout, not an interval later', () => {
    const { clock, flagged, run, hear } = setup();
    hear('w1');
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
    const { clock, flagged, run, hear } = setup();
    hear('w1');
    run(INTERVAL);
    hear('w1');
    const lastSeen = clock.monoMs;
    run(TIMEOUT);
    expect(flagged).toEqual([]);
    run(TICK);
    expect(flagged.map((f) => f.atMs - lastSeen)).toEqual([TIMEOUT + TICK]);
  });

  test('a stall of the master is nobody\'s silence: the late tick flags no one whose message waits unread, the flap does not feed itself', () => {
    const { flagged, run, stall, hear } = setup();
    hear('w1');
    run(TICK);
    // The master is blocked for longer than the timeout; w1's beats sit in its socket buffer meanwhile.
    stall(TIMEOUT + 3_000);
    expect(flagged).toEqual([]);
    // Read after the late tick (Node runs timers before I/O): w1 is heard from, and stays unflagged.
    hear('w1');
    run(TIMEOUT);
    expect(flagged).toEqual([]);
  });

  test('a worker silent in the master\'s running time is still flagged one timeout after its last message, stalls not counted', () => {
    const { clock, flagged, run, stall, hear } = setup();
    hear('w1');
    const lastSeen = clock.monoMs;
    run(TICK);
    stall(5_000);
    expect(flagged).toEqual([]);
    // The stall counted as 5 000 - TICK of nobody's time: the timeout runs on from there.
    run(TIMEOUT - 2 * TICK);
    expect(flagged).toEqual([]);
    run(2 * TICK);
    expect(flagged.map((f) => f.ids)).toEqual([['w1']]);
    expect(flagged[0]?.atMs).toBe(lastSeen + 5_000 - TICK + TIMEOUT + TICK);
  });

  test('under sustained lag (every tick late) pings still go out and a dead peer is still cut off: only the first late tick of a run skips them', () => {
    const { clock, tracker } = setup();
    const seen = { pings: 0, terminated: [] as string[] };
    // A quiet socket whose peer is gone: it never answers a ping.
    let pingSentAtMs: number | undefined;
    const session = {
      workerId: 'w1',
      lastActivityMs: clock.monoMs,
      get pingSentAtMs() { return pingSentAtMs; },
      ping: () => { seen.pings += 1; pingSentAtMs = clock.monoMs; },
      terminate: (cause: string) => seen.terminated.push(cause),
    };
    const host: MonitoredHost = { sessions: new SessionTable<AgentSession>(), flagInactive: () => undefined };
    host.sessions.claim(session as unknown as AgentSession);
    const lagging = new LivenessMonitor({ tracker, host, clock, heartbeatIntervalMs: INTERVAL, heartbeatTimeoutMs: TIMEOUT, tickMs: TICK });
    lagging.tick();
    // Each tick comes 3 periods after the last, for as long as the lag lasts.
    for (let i = 0; i < 8; i += 1) {
      clock.advance(3 * TICK);
      lagging.tick();
    }
    // One ping once the socket was quiet for 1.5 intervals; left unanswered for an interval, the peer is cut off
    // (the fake stays in the table, so later ticks cut it off again).
    expect(seen.pings).toBe(1);
    expect(seen.terminated[0]).toBe('no_pong');
  });

  test('at steady state a tick visits no session until one may be due; a quiet one is still pinged and cut off at the first tick past its limit', () => {
    const { clock, tracker } = setup();
    let visits = 0;
    const pings: number[] = [];
    const cutOff: number[] = [];
    /** A session as the monitor reads it; each read of its quiet counts as a visit. */
    const fake = (workerId: string) => {
      const state = { lastActivityMs: clock.monoMs, pingSentAtMs: undefined as number | undefined, beating: true };
      const session = {
        workerId,
        get lastActivityMs() {
          visits += 1;
          return state.lastActivityMs;
        },
        get pingSentAtMs() {
          return state.pingSentAtMs;
        },
        ping: () => {
          pings.push(clock.monoMs);
          state.pingSentAtMs = clock.monoMs;
        },
        terminate: () => cutOff.push(clock.monoMs),
      };
      return { state, session: session as unknown as AgentSession };
    };
    const host: MonitoredHost = { sessions: new SessionTable<AgentSession>(), flagInactive: () => undefined };
    const fleet = Array.from({ length: 20 }, (_, i) => fake(`w${i}`));
    for (const { session } of fleet) host.sessions.claim(session);
    const monitor = new LivenessMonitor({ tracker, host, clock, heartbeatIntervalMs: INTERVAL, heartbeatTimeoutMs: TIMEOUT, tickMs: TICK });
    /** Ticks for `ms`; each beating session hears from its agent once per interval, at its own phase. */
    const run = (ms: number): number => {
      let ticks = 0;
      for (let passed = 0; passed < ms; passed += TICK) {
        clock.advance(TICK);
        fleet.forEach(({ state }, i) => {
          if (state.beating && (clock.monoMs + i * TICK) % INTERVAL < TICK) {
            state.lastActivityMs = clock.monoMs;
            state.pingSentAtMs = undefined;
          }
        });
        monitor.tick();
        ticks += 1;
      }
      return ticks;
    };
    const ticks = run(10 * INTERVAL);
    expect(pings).toEqual([]);
    // Walking every session at every tick would be ticks × 20; the earliest quiet at the last walk sets the next.
    expect(visits).toBeLessThanOrEqual((ticks * fleet.length) / 2);

    const quiet = fleet[0];
    if (quiet === undefined) throw new Error('no session');
    quiet.state.beating = false;
    const lastHeard = quiet.state.lastActivityMs;
    run(3 * INTERVAL);
    // Pinged at the first tick past 1.5 intervals of quiet, cut off at the first tick past an unanswered interval.
    const firstTickAfter = (ms: number): number => lastHeard + (Math.floor((ms - lastHeard) / TICK) + 1) * TICK;
    expect(pings[0]).toBe(firstTickAfter(lastHeard + 1.5 * INTERVAL));
    expect(cutOff[0]).toBe(firstTickAfter((pings[0] ?? 0) + INTERVAL));
  });
});
