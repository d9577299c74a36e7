import { Registry as MetricsRegistry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../../test/support/database.js';
import { ManualClock, captureLogger } from '../server/test-support/fakes.js';
import { createWorkerEventStore, type WorkerEventStore } from './event-store.js';
import { createHistoryMetrics, type HistoryMetrics } from './history-metrics.js';
import { WORKER_EVENTS_COLLECTION, type WorkerEvent } from './worker-event.js';
import { WorkerHistory } from './worker-history.js';

/**
 * The history's writer on the dev database, with faults put between it and
 * the real store: a lost reply (the insert lands, the caller sees an error),
 * an outage (every write fails), a full queue.
 */

let t: TestDatabase;
let real: WorkerEventStore;

beforeAll(async () => {
  t = await openTestDatabase('history');
  real = createWorkerEventStore(t.db);
});
afterAll(async () => {
  await t.close();
});

let prefix = 0;
let instance: string;
beforeEach(() => {
  prefix += 1;
  instance = `master-${prefix}`;
});

interface Faults {
  inserts: number;
  /** The next inserts land, then fail as if their reply was lost. */
  loseReplies: number;
  /** Every command fails while true. */
  down: boolean;
}

function faulty(faults: Faults): WorkerEventStore {
  const fail = (): never => {
    throw new Error('connection refused (test outage)');
  };
  return {
    ensure: (ttl) => (faults.down ? Promise.reject(new Error('down')) : real.ensure(ttl)),
    async insert(events) {
      if (faults.down) fail();
      faults.inserts += 1;
      const written = await real.insert(events);
      if (faults.loseReplies > 0) {
        faults.loseReplies -= 1;
        fail();
      }
      return written;
    },
    find: (query) => real.find(query),
    prune: (before, limit) => real.prune(before, limit),
    flaggedAt: (now, ids) => (faults.down ? Promise.reject(new Error('down')) : real.flaggedAt(now, ids)),
  };
}

function history(faults: Faults, extra: { maxPending?: number } = {}): { history: WorkerHistory; clock: ManualClock; metrics: HistoryMetrics; lines: ReturnType<typeof captureLogger>['lines'] } {
  const clock = new ManualClock();
  const { logger, lines } = captureLogger();
  const metrics = createHistoryMetrics(new MetricsRegistry());
  const h = new WorkerHistory({ store: faulty(faults), clock, logger, metrics, instance, ttlSeconds: 86_400, flushIntervalMs: 1_000, ...extra });
  return { history: h, clock, metrics, lines };
}

async function stored(): Promise<WorkerEvent[]> {
  return t.db.collection<WorkerEvent>(WORKER_EVENTS_COLLECTION).find({ instance }).sort({ at: 1, _id: 1 }).toArray();
}

async function counter(metric: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await metric.get()).values[0]?.value ?? 0;
}

describe('worker history', () => {
  it('a thousand events are one insert, at the flush interval, in the order recorded', async () => {
    const faults = { inserts: 0, loseReplies: 0, down: false };
    const { history: h, clock } = history(faults);
    h.start();
    for (let i = 0; i < 1_000; i += 1) h.record(`w${i % 10}`, 'admitted', null, { n: i });
    expect(faults.inserts).toBe(0);
    await clock.advanceAsync(1_000);
    await h.flush(); // the one the timer started (the first one creates the indexes before it writes)
    expect(faults.inserts).toBe(1);
    const events = await stored();
    expect(events).toHaveLength(1_000);
    expect(events.map((e) => e.detail?.n)).toEqual([...Array(1_000).keys()]);
    await h.stop();
  });

  it('a batch whose reply was lost is sent again and written once', async () => {
    const faults = { inserts: 0, loseReplies: 1, down: false };
    const { history: h, metrics } = history(faults);
    for (let i = 0; i < 5; i += 1) h.record('w1', 'disconnected', 'connection_lost');
    await h.flush();
    expect(h.pending).toBe(5); // the writer cannot know it landed
    h.record('w1', 'admitted', null);
    await h.flush();
    expect(faults.inserts).toBe(2);
    expect(h.pending).toBe(0);
    const events = await stored();
    expect(events.map((e) => e.kind)).toEqual(['disconnected', 'disconnected', 'disconnected', 'disconnected', 'disconnected', 'admitted']);
    expect(new Set(events.map((e) => e._id)).size).toBe(6);
    expect(await counter(metrics.written)).toBe(6);
  });

  it('an outage: events wait in a bounded queue, the rest are dropped and counted, and what was kept is written once it ends', async () => {
    const faults = { inserts: 0, loseReplies: 0, down: true };
    const { history: h, metrics, lines } = history(faults, { maxPending: 4 });
    for (let i = 0; i < 10; i += 1) h.record('w1', 'refused', 'unauthorized', { n: i });
    await h.flush();
    await h.flush();
    expect(h.pending).toBe(4);
    expect(await counter(metrics.dropped)).toBe(6);
    expect(lines.filter((l) => l.msg === 'could not write worker events; keeping them for the next try')).toHaveLength(1);
    expect(lines.find((l) => l.msg === 'worker events dropped: the queue was full')).toMatchObject({ dropped: 6 });
    faults.down = false;
    await h.flush();
    expect((await stored()).map((e) => e.detail?.n)).toEqual([0, 1, 2, 3]);
    expect(lines.some((l) => l.msg === 'worker events written again')).toBe(true);
  });

  it('a flag write that changed all its workers is an event each, with the cause it was raised for; one that changed none is no event', async () => {
    const faults = { inserts: 0, loseReplies: 0, down: false };
    const { history: h } = history(faults);
    h.flagRaised(['a'], 'clean_close');
    h.flagRaised(['b'], 'timeout');
    h.flagged(['a', 'b'], new Date(Date.UTC(2025, 9, 15, 10, 31)), 2);
    h.flagRaised(['c'], 'timeout');
    h.flagged(['c'], new Date(Date.UTC(2025, 9, 15, 10, 32)), 0);
    await h.flush();
    expect((await stored()).map((e) => `${e.worker_id}:${e.kind}:${e.cause}`)).toEqual(['a:flagged_inactive:clean_close', 'b:flagged_inactive:timeout']);
  });

  it('a flag write that changed some of its workers: those left inactive at its time are read back', async () => {
    const faults = { inserts: 0, loseReplies: 0, down: false };
    const { history: h } = history(faults);
    const now = new Date(Date.UTC(2025, 9, 15, 11, 0, prefix));
    const workers = t.db.collection('WORKER_REGISTRY');
    await workers.insertMany([
      { worker_id: `${instance}-x`, is_active: false, updated_at: now },
      // Another master's newer heartbeat: the flag left it alone.
      { worker_id: `${instance}-y`, is_active: true, updated_at: new Date(now.getTime() + 5) },
    ]);
    h.flagRaised([`${instance}-x`, `${instance}-y`], 'master_close');
    h.flagged([`${instance}-x`, `${instance}-y`], now, 1);
    await h.flush();
    expect((await stored()).map((e) => `${e.worker_id}:${e.cause}`)).toEqual([`${instance}-x:master_close`]);
  });

  it('a specs change the view saw is an event only when the write changed the document', async () => {
    const faults = { inserts: 0, loseReplies: 0, down: false };
    const { history: h } = history(faults);
    h.changeSeen('stale', 'specs', { from: null, to: { total_cpu: 4 } });
    h.changesWritten('specs', ['stale'], 0);
    h.changeSeen('real', 'specs', { from: { total_cpu: 2 }, to: { total_cpu: 4 } });
    h.changesWritten('specs', ['real', 'same'], 1);
    await h.flush();
    expect((await stored()).map((e) => `${e.worker_id}:${e.kind}`)).toEqual(['real:specs_changed']);
  });

  it('refusals: one event per worker and reason per minute, the next one says how many were left out', async () => {
    const faults = { inserts: 0, loseReplies: 0, down: false };
    const { history: h, clock } = history(faults);
    for (let i = 0; i < 5; i += 1) h.refused('w1', 'unauthorized', '10.0.0.1');
    h.refused('w1', 'forbidden', '10.0.0.1');
    clock.advance(60_000);
    h.refused('w1', 'unauthorized', '10.0.0.1');
    await h.flush();
    expect((await stored()).map((e) => [e.cause, e.detail?.repeated_before])).toEqual([
      ['unauthorized', undefined],
      ['forbidden', undefined],
      ['unauthorized', 4],
    ]);
  });

  it('stop() writes what is queued; nothing is recorded after it', async () => {
    const faults = { inserts: 0, loseReplies: 0, down: false };
    const { history: h } = history(faults);
    h.start();
    h.record('w1', 'admitted', null);
    await h.stop();
    h.record('w1', 'admitted', null);
    expect(h.pending).toBe(0);
    expect(await stored()).toHaveLength(1);
  });
});

describe('event store', () => {
  it('the dev database keeps no TTL index: ensure() says so and the prune deletes what is older, at most `limit` a time', async () => {
    const expiry = await real.ensure(86_400);
    expect(['ttl_index', 'prune']).toContain(expiry);
    const base = Date.UTC(2025, 0, 1);
    await real.insert(
      Array.from({ length: 5 }, (_, i) => ({ _id: `${instance}:${i}`, worker_id: 'p', at: new Date(base + i * 1_000), kind: 'admitted' as const, cause: null, instance })),
    );
    expect(await real.prune(new Date(base + 3_500), 2)).toBe(2);
    expect(await real.prune(new Date(base + 3_500), 2)).toBe(2);
    expect(await real.prune(new Date(base + 3_500), 2)).toBe(0);
    expect((await stored()).map((e) => e._id)).toEqual([`${instance}:4`]);
    // Idempotent: a second master, or db init, finds the indexes there.
    expect(await real.ensure(86_400)).toBe(expiry);
  });
});
