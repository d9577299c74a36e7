import { MongoClient } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../../test/support/database.js';
import { FULL_SWEEP_EVERY_MS, StaleSweeper } from '../server/liveness/stale-sweep.js';
import { captureLogger, ManualClock, testHealth, testMetrics } from '../server/test-support/fakes.js';
import { MAX_STALE_WINDOW_SECONDS } from './agent-path-operations.js';
import { createWorkerRegistry, type WorkerRegistry } from './worker-registry.js';

/**
 * The incremental stale sweep on the real dev database: a window of whole
 * seconds names exactly the active workers the full filter would flag in it,
 * and a sweeper sweeps in full first, then by windows, and in full again at
 * least every FULL_SWEEP_EVERY_MS.
 */
const TIMEOUT_MS = 15_000;
const LATER = new Date('2025-10-15T10:40:00Z');

let t: TestDatabase;
let registry: WorkerRegistry;
let monitored: MongoClient;
let filters: unknown[];
let clock: ManualClock;

beforeEach(async () => {
  t = await openTestDatabase('stale_window');
  clock = new ManualClock();
  await createWorkerRegistry(t.db).ensureCollections();
  monitored = new MongoClient(t.uri, { monitorCommands: true });
  await monitored.connect();
  filters = [];
  monitored.on('commandStarted', (event) => {
    // The sweeps' filters only (the setup's writes go by worker_id).
    const q = (event.command.updates as { q?: Record<string, unknown> }[] | undefined)?.[0]?.q;
    if (event.commandName === 'update' && q !== undefined && 'last_heartbeat' in q) filters.push(q);
  });
  registry = createWorkerRegistry(monitored.db(t.name), { now: () => new Date(clock.now()) });
});

afterEach(async () => {
  await monitored.close();
  await t.close();
});

/** A registered worker, active (or not) with this last_heartbeat, as a master's write leaves it. */
async function worker(workerId: string, lastHeartbeat: number, isActive = true): Promise<void> {
  await registry.registerWorker(workerId, '10.0.0.1');
  await registry.updateWorkerInfo({ worker_id: workerId, total_cpu: 8, total_memory: 16, total_storage: 500, total_gpu: 0, is_active: isActive, last_heartbeat: lastHeartbeat });
}

async function active(workerId: string): Promise<boolean | undefined> {
  return (await registry.getWorker(workerId))?.is_active;
}

describe('sweepStale with a window (real database)', () => {
  it('flags the active workers with last_heartbeat in [since, cutoff) only, and spares the spared', async () => {
    await worker('below', 1_000);
    await worker('first', 1_500);
    await worker('last', 1_509);
    await worker('spared', 1_505);
    await worker('at-cutoff', 1_510);
    await worker('idle', 1_505, false);
    expect(await registry.sweepStale(1_510, LATER, ['spared'], 1_500)).toBe(2);
    expect(await active('first')).toBe(false);
    expect(await active('last')).toBe(false);
    expect(await active('below')).toBe(true);
    expect(await active('spared')).toBe(true);
    expect(await active('at-cutoff')).toBe(true);
    expect((await registry.getWorker('idle'))?.updated_at).not.toEqual(LATER);
  });

  it('an empty window sends no command; one wider than MAX_STALE_WINDOW_SECONDS is refused', async () => {
    await worker('a', 1_000);
    filters = [];
    expect(await registry.sweepStale(1_500, LATER, [], 1_500)).toBe(0);
    expect(filters).toEqual([]);
    await expect(registry.sweepStale(1_000 + MAX_STALE_WINDOW_SECONDS + 1, LATER, [], 1_000)).rejects.toThrow(RangeError);
    expect(await active('a')).toBe(true);
  });
});

describe('StaleSweeper by windows (real database)', () => {
  function sweeper(): StaleSweeper {
    const s = new StaleSweeper({
      registry, clock, health: testHealth(clock).health, metrics: testMetrics(), logger: captureLogger().logger,
      heartbeatTimeoutMs: TIMEOUT_MS, intervalMs: 5_000,
    });
    s.startNow();
    s.admittingSince(clock.monotonic() - TIMEOUT_MS);
    return s;
  }
  const nowS = (): number => Math.floor(clock.now() / 1000);
  const windowed = (filter: unknown): boolean => JSON.stringify(filter).includes('$in');

  it('a worker whose master died is flagged by the window its last heartbeat falls in; an off-path stale one waits for the next full sweep', async () => {
    const s = sweeper();
    await worker('orphan', nowS() - 5);
    await s.maybeSweep(clock.now());
    expect(filters.map(windowed)).toEqual([false]);
    expect(await active('orphan')).toBe(true);
    // Made active with a last_heartbeat below what was swept: no heartbeat write does that
    // (a hand edit, a restored backup); windows do not see it, the next full sweep does.
    await worker('edited', nowS() - 3_600);
    for (let i = 0; i < 4; i++) {
      clock.advance(5_000);
      await s.maybeSweep(clock.now());
    }
    expect(filters.slice(1).map(windowed)).toEqual([true, true, true, true]);
    // The orphan's last write was 25 s ago: past the timeout and the second to spare.
    expect(await active('orphan')).toBe(false);
    expect(await active('edited')).toBe(true);
    while (clock.monotonic() - 1_000_000 < FULL_SWEEP_EVERY_MS) {
      clock.advance(5_000);
      await s.maybeSweep(clock.now());
    }
    expect(filters.some((f, i) => i > 0 && !windowed(f))).toBe(true);
    expect(await active('edited')).toBe(false);
  });

  it('workers to spare (a reconnect within the timeout) are left out of a window, not made a full sweep', async () => {
    const back = new Set<string>();
    const s = new StaleSweeper({
      registry, clock, health: testHealth(clock).health, metrics: testMetrics(), logger: captureLogger().logger,
      heartbeatTimeoutMs: TIMEOUT_MS, intervalMs: 5_000, unwrittenAdmissions: () => back,
    });
    s.startNow();
    s.admittingSince(clock.monotonic() - TIMEOUT_MS);
    await s.maybeSweep(clock.now());
    // Both last written now; 'back' reconnects (its return not written yet), 'gone' does not.
    await worker('back', nowS());
    await worker('gone', nowS());
    back.add('back');
    for (let i = 0; i < 4; i++) {
      clock.advance(5_000);
      await s.maybeSweep(clock.now());
    }
    expect(filters.map(windowed)).toEqual([false, true, true, true, true]);
    expect(filters.at(-1)).toMatchObject({ worker_id: { $nin: ['back'] } });
    expect(await active('gone')).toBe(false);
    expect(await active('back')).toBe(true);
  });
});
