import { describe, expect, test } from 'vitest';
import { MAX_SPARED_IN_FILTER, StaleSweeper, sweepAllowed, sweepCutoffSeconds } from './stale-sweep.js';
import { FakeRegistry, ManualClock, captureLogger, testHealth, testMetrics } from '../test-support/fakes.js';

describe('sweepCutoffSeconds', () => {
  test('flags only beats certainly older than the timeout, with a second for skew', () => {
    // now = 100.5 s, timeout 15 s: now - timeout = 85.5 s, cutoff 84 => last_heartbeat <= 83 flagged.
    expect(sweepCutoffSeconds(100_500, 15_000)).toBe(84);
    // A beat written with last_heartbeat 84 may have happened at 84.999 s: only 15.5 s ago.
    const cutoff = sweepCutoffSeconds(100_500, 15_000);
    const newestFlagged = cutoff - 1;
    expect(100_500 - (newestFlagged + 1) * 1000).toBeGreaterThan(15_000);
  });

  test('property: a flagged last_heartbeat L always means (L + 1) s is more than timeout + 1 s ago', () => {
    for (let now = 50_000; now < 60_000; now += 37) {
      for (const timeout of [1_000, 15_000, 2_500]) {
        const L = sweepCutoffSeconds(now, timeout) - 1;
        expect(now - (L + 1) * 1000).toBeGreaterThan(timeout);
      }
    }
  });
});

describe('sweepAllowed', () => {
  test('not before one timeout since the master could admit, nor since recovery from an outage', () => {
    expect(sweepAllowed(10_000, 0, undefined, 15_000)).toBe(false);
    expect(sweepAllowed(15_000, 0, undefined, 15_000)).toBe(true);
    expect(sweepAllowed(40_000, 0, 30_000, 15_000)).toBe(false);
    expect(sweepAllowed(45_000, 0, 30_000, 15_000)).toBe(true);
  });
});

describe('StaleSweeper', () => {
  function setup() {
    const registry = new FakeRegistry();
    const clock = new ManualClock();
    const { health } = testHealth(clock);
    const metrics = testMetrics();
    const sweeper = new StaleSweeper({
      registry,
      clock,
      health,
      metrics,
      logger: captureLogger().logger,
      heartbeatTimeoutMs: 1_000,
      intervalMs: 500,
    });
    sweeper.startNow();
    sweeper.admittingSince(clock.monotonic());
    return { registry, clock, health, sweeper, metrics };
  }

  test('judges against the time of the heartbeat write it follows, not the time the write ended', async () => {
    const { registry, clock, sweeper } = setup();
    clock.advance(2_000);
    const writtenAt = clock.wallMs;
    clock.advance(20_000); // the heartbeat write took longer than the timeout
    await sweeper.maybeSweep(writtenAt);
    expect(registry.calls).toEqual([{ op: 'sweepStale', cutoff: sweepCutoffSeconds(writtenAt, 1_000) }]);
  });

  test('the sweep at start uses the start time as now, once, with no wait', async () => {
    const { registry, clock, sweeper } = setup();
    const startWallMs = clock.wallMs;
    clock.advance(300);
    await sweeper.sweepAtStart();
    expect(registry.calls).toEqual([{ op: 'sweepStale', cutoff: sweepCutoffSeconds(startWallMs, 1_000) }]);
  });

  test('does nothing during the first timeout, then sweeps at most every intervalMs (less 10%)', async () => {
    const { registry, clock, sweeper } = setup();
    await sweeper.maybeSweep();
    clock.advance(999);
    await sweeper.maybeSweep();
    expect(registry.count('sweepStale')).toBe(0);
    clock.advance(1);
    await sweeper.maybeSweep();
    expect(registry.count('sweepStale')).toBe(1);
    clock.advance(449);
    await sweeper.maybeSweep();
    expect(registry.count('sweepStale')).toBe(1);
    clock.advance(1); // 450 ms: the interval less 10% for jitter
    await sweeper.maybeSweep();
    expect(registry.count('sweepStale')).toBe(2);
    expect(registry.calls.at(-1)).toEqual({ op: 'sweepStale', cutoff: sweepCutoffSeconds(clock.wallMs, 1_000) });
  });

  test('waits one timeout again after the database came back', async () => {
    const { registry, clock, sweeper, health } = setup();
    clock.advance(5_000);
    health.failure('heartbeat', new Error('down'), 100);
    clock.advance(5_000);
    health.success('heartbeat');
    await sweeper.maybeSweep();
    expect(registry.count('sweepStale')).toBe(0);
    clock.advance(1_000);
    await sweeper.maybeSweep();
    expect(registry.count('sweepStale')).toBe(1);
  });

  test('counts what it flagged and rethrows database errors', async () => {
    const { registry, clock, sweeper, metrics } = setup();
    registry.add('old');
    const doc = registry.docs.get('old');
    if (doc === undefined) throw new Error('missing');
    doc.is_active = true;
    doc.last_heartbeat = 1;
    clock.advance(1_000);
    await sweeper.maybeSweep();
    expect(doc.is_active).toBe(false);
    expect((await metrics.workersFlaggedInactive.get()).values).toEqual([{ labels: { cause: 'sweep' }, value: 1 }]);
    registry.failing = true;
    clock.advance(1_000);
    await expect(sweeper.maybeSweep()).rejects.toThrow('unreachable');
  });

  test('the first sweep comes one timeout after the view loaded, not after the start (a master that loads for seconds)', async () => {
    const registry = new FakeRegistry();
    const clock = new ManualClock();
    const sweeper = new StaleSweeper({ registry, clock, health: testHealth(clock).health, metrics: testMetrics(), logger: captureLogger().logger, heartbeatTimeoutMs: 1_000, intervalMs: 500 });
    sweeper.startNow();
    // Loading its view: it cannot admit anyone, so nobody's silence can be judged yet.
    clock.advance(3_000);
    await sweeper.maybeSweep(clock.wallMs);
    expect(registry.count('sweepStale')).toBe(0);
    const loadedAtMs = clock.monotonic();
    sweeper.admittingSince(loadedAtMs);
    clock.advance(999);
    await sweeper.maybeSweep(clock.wallMs);
    expect(registry.count('sweepStale')).toBe(0);
    clock.advance(1);
    await sweeper.maybeSweep(clock.wallMs);
    expect(registry.count('sweepStale')).toBe(1);
  });

  test('spares the workers admitted here whose return is not written yet: a flagged worker that is back is not flagged again for the same silence', async () => {
    const registry = new FakeRegistry();
    const clock = new ManualClock();
    let unwritten = new Set<string>();
    const sweeper = new StaleSweeper({
      registry,
      clock,
      health: testHealth(clock).health,
      metrics: testMetrics(),
      logger: captureLogger().logger,
      heartbeatTimeoutMs: 1_000,
      intervalMs: 500,
      unwrittenAdmissions: () => unwritten,
    });
    sweeper.startNow();
    sweeper.admittingSince(clock.monotonic());
    for (const id of ['back', 'silent']) {
      registry.add(id);
      const doc = registry.docs.get(id);
      if (doc === undefined) throw new Error('missing');
      doc.is_active = true;
      doc.last_heartbeat = 1;
    }
    // 'back' reconnected after the write this sweep follows began: its document still shows the silence.
    unwritten = new Set(['back']);
    clock.advance(2_000);
    await sweeper.maybeSweep(clock.wallMs);
    expect(registry.calls.at(-1)).toEqual({ op: 'sweepStale', cutoff: sweepCutoffSeconds(clock.wallMs, 1_000), spared: ['back'] });
    expect(registry.docs.get('back')?.is_active).toBe(true);
    expect(registry.docs.get('silent')?.is_active).toBe(false);
    // Written: nothing left to spare, and the filter is the contract's stale filter alone again.
    unwritten = new Set();
    clock.advance(500);
    await sweeper.maybeSweep(clock.wallMs);
    expect(registry.calls.at(-1)).toEqual({ op: 'sweepStale', cutoff: sweepCutoffSeconds(clock.wallMs, 1_000) });
  });

  test('waits for the next cycle while more returns than MAX_SPARED_IN_FILTER are unwritten (a storm still being written)', async () => {
    const registry = new FakeRegistry();
    const clock = new ManualClock();
    let unwritten = new Set(Array.from({ length: MAX_SPARED_IN_FILTER + 1 }, (_, i) => `w${i}`));
    const metrics = testMetrics();
    const log = captureLogger();
    const sweeper = new StaleSweeper({
      registry,
      clock,
      health: testHealth(clock).health,
      metrics,
      logger: log.logger,
      heartbeatTimeoutMs: 1_000,
      intervalMs: 500,
      unwrittenAdmissions: () => unwritten,
    });
    sweeper.startNow();
    sweeper.admittingSince(clock.monotonic());
    clock.advance(2_000);
    await sweeper.maybeSweep(clock.wallMs);
    clock.advance(500);
    await sweeper.maybeSweep(clock.wallMs);
    expect(registry.count('sweepStale')).toBe(0);
    // Not silent: counted each time, said once for the run of deferrals.
    expect((await metrics.sweepsDeferred.get()).values[0]?.value).toBe(2);
    expect(log.lines.filter((l) => l.msg === 'stale sweep deferred: returned workers not written yet')).toHaveLength(1);
    unwritten = new Set();
    clock.advance(100);
    await sweeper.maybeSweep(clock.wallMs);
    expect(registry.count('sweepStale')).toBe(1);
    expect(log.lines.filter((l) => l.msg === 'stale sweep resumed')).toHaveLength(1);
  });

  describe('with a write horizon (several masters on one database)', () => {
    function withHorizon() {
      const registry = new FakeRegistry();
      const clock = new ManualClock();
      const { health } = testHealth(clock);
      const calls: string[] = [];
      /** Entries as the database would hold them: written_as_of and published_at, epoch ms. */
      const entries = new Map<string, { writtenAsOfMs: number; publishedAtMs: number }>();
      let serving = true;
      const sweeper = new StaleSweeper({
        registry,
        clock,
        health,
        metrics: testMetrics(),
        logger: captureLogger().logger,
        heartbeatTimeoutMs: 1_000,
        intervalMs: 500,
        horizon: {
          instanceId: 'me',
          serving: () => serving,
          publishEveryMs: 250,
          aloneEveryMs: 1_000,
          port: {
            publish(id, writtenAsOfMs, nowMs) {
              calls.push(`publish ${id}`);
              entries.set(id, { writtenAsOfMs, publishedAtMs: nowMs });
              return Promise.resolve();
            },
            othersLive(liveSinceMs, exceptId) {
              const live = [...entries].filter(([id, e]) => id !== exceptId && e.publishedAtMs >= liveSinceMs).map(([, e]) => e.writtenAsOfMs);
              return Promise.resolve({ count: live.length, oldestWrittenAsOfMs: live.length === 0 ? undefined : Math.min(...live) });
            },
            withdraw(id) {
              calls.push(`withdraw ${id}`);
              entries.delete(id);
              return Promise.resolve();
            },
          },
        },
      });
      sweeper.startNow();
      sweeper.admittingSince(clock.monotonic());
      return { registry, clock, sweeper, calls, entries, setServing: (value: boolean) => (serving = value) };
    }

    test('judges by the oldest write of a master heard from within the timeout, if older than its own', async () => {
      const { registry, clock, sweeper, entries } = withHorizon();
      clock.advance(5_000);
      // Another master, alive (published just now), whose last write stood for 3 s ago.
      entries.set('behind', { writtenAsOfMs: clock.wallMs - 3_000, publishedAtMs: clock.wallMs });
      await sweeper.maybeSweep(clock.wallMs);
      expect(registry.calls.at(-1)).toEqual({ op: 'sweepStale', cutoff: sweepCutoffSeconds(clock.wallMs - 3_000, 1_000) });
      // It stops publishing: one timeout later it holds nobody back.
      clock.advance(1_001);
      await sweeper.maybeSweep(clock.wallMs);
      expect(registry.calls.at(-1)).toEqual({ op: 'sweepStale', cutoff: sweepCutoffSeconds(clock.wallMs, 1_000) });
    });

    test('publishes after a write at most every publishEveryMs while it serves; withdraws once when it serves nobody', async () => {
      const { clock, sweeper, calls, setServing } = withHorizon();
      await sweeper.maybeSweep(clock.wallMs);
      clock.advance(100);
      await sweeper.maybeSweep(clock.wallMs);
      clock.advance(150);
      await sweeper.maybeSweep(clock.wallMs);
      expect(calls).toEqual(['publish me', 'publish me']);
      setServing(false);
      clock.advance(250);
      await sweeper.maybeSweep(clock.wallMs);
      clock.advance(250);
      await sweeper.maybeSweep(clock.wallMs);
      expect(calls).toEqual(['publish me', 'publish me', 'withdraw me']);
    });

    test('alone (no other live master seen by its sweep) it publishes once per aloneEveryMs; with another, every publishEveryMs again', async () => {
      const { clock, sweeper, calls, entries } = withHorizon();
      clock.advance(1_000);
      await sweeper.maybeSweep(clock.wallMs); // sweeps: nobody else on the horizon
      calls.length = 0;
      for (let i = 0; i < 8; i += 1) {
        clock.advance(250);
        await sweeper.maybeSweep(clock.wallMs);
      }
      expect(calls).toEqual(['publish me', 'publish me']);
      entries.set('other', { writtenAsOfMs: clock.wallMs, publishedAtMs: clock.wallMs });
      clock.advance(500);
      await sweeper.maybeSweep(clock.wallMs); // this sweep sees it
      calls.length = 0;
      for (let i = 0; i < 4; i += 1) {
        clock.advance(250);
        await sweeper.maybeSweep(clock.wallMs);
      }
      expect(calls).toEqual(['publish me', 'publish me', 'publish me', 'publish me']);
    });

    test('the sweep at start spares the workers of a master that is behind', async () => {
      const { registry, clock, sweeper, entries } = withHorizon();
      entries.set('behind', { writtenAsOfMs: clock.wallMs - 10_000, publishedAtMs: clock.wallMs });
      await sweeper.sweepAtStart();
      expect(registry.calls).toEqual([{ op: 'sweepStale', cutoff: sweepCutoffSeconds(clock.wallMs - 10_000, 1_000) }]);
    });
  });
});
