import { describe, expect, test } from 'vitest';
import type { Worker } from '../../registry/worker.js';
import { ManualClock, captureLogger } from '../test-support/fakes.js';
import { FleetFeed, type FleetSnapshot } from './fleet-feed.js';

const worker = (id: string, active: boolean, lastHeartbeat = 0): Worker => ({
  worker_id: id, worker_ip: '10.0.0.1', total_cpu: 0, total_memory: 0, total_storage: 0, total_gpu: 0,
  is_active: active, last_heartbeat: lastHeartbeat, registered_at: new Date(0), updated_at: new Date(0),
});

/** The overlay of this master's own sessions on the database's view, on a manual clock. */
function setup(initial: Worker[]): { feed: FleetFeed; clock: ManualClock; db: Worker[]; held: Set<string>; seen: FleetSnapshot[] } {
  const clock = new ManualClock();
  const db: Worker[] = [...initial];
  const held = new Set<string>();
  const feed = new FleetFeed({
    source: { getAllWorkers: () => Promise.resolve(db.map((w) => ({ ...w }))) },
    local: { heldWorkerIds: () => held, specsOf: (id) => (held.has(id) ? { total_cpu: 8, total_memory: 16, total_storage: 100, total_gpu: 1 } : undefined) },
    clock,
    logger: captureLogger().logger,
    intervalMs: 1_000,
  });
  const seen: FleetSnapshot[] = [];
  feed.subscribe((s) => seen.push(s));
  return { feed, clock, db, held, seen };
}

const active = (s: FleetSnapshot | undefined, id: string): unknown => s?.workers.find((w) => w.worker_id === id)?.is_active;

describe('FleetFeed', () => {
  test('a worker held here is active with its session specs before the database says so', async () => {
    const { clock, held, seen } = setup([worker('a', false)]);
    await clock.advanceAsync(0);
    expect(active(seen.at(-1), 'a')).toBe(false);
    held.add('a');
    await clock.advanceAsync(1_000);
    expect(seen.at(-1)?.workers[0]).toMatchObject({ is_active: true, total_cpu: 8, total_gpu: 1 });
  });

  test('a worker dropped here is inactive until the database agrees or it beats elsewhere', async () => {
    const { clock, db, held, seen } = setup([worker('a', true, 1)]);
    held.add('a');
    await clock.advanceAsync(1_000);
    held.delete('a');
    await clock.advanceAsync(1_000);
    expect(active(seen.at(-1), 'a')).toBe(false);
    // Another master took it: a heartbeat newer than the drop.
    db[0] = worker('a', true, Math.floor(clock.now() / 1000) + 1);
    await clock.advanceAsync(1_000);
    expect(active(seen.at(-1), 'a')).toBe(true);
  });

  test('listeners hear only changes; the timer stops with the last listener', async () => {
    const { feed, clock, seen } = setup([worker('a', false)]);
    await clock.advanceAsync(3_000);
    expect(seen).toHaveLength(1);
    expect(feed.reads).toBe(4);
    const off = feed.subscribe(() => undefined);
    off();
    await clock.advanceAsync(0);
    const reads = feed.reads;
    // The first listener still listens: one reading timer, not two.
    await clock.advanceAsync(2_000);
    expect(feed.reads).toBe(reads + 2);
  });

  test('a date out of range (written by another tool) is shown as null, the rest of the fleet as ever', async () => {
    const { feed, clock, db, seen } = setup([worker('a', false)]);
    await clock.advanceAsync(0);
    db.push({ ...worker('b', false), registered_at: new Date(Number.NaN) });
    await clock.advanceAsync(1_000);
    expect(seen.at(-1)?.workers.map((w) => [w.worker_id, w.registered_at])).toEqual([['a', '1970-01-01T00:00:00.000Z'], ['b', null]]);
    feed.close();
  });
});
