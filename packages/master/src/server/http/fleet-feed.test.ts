import { describe, expect, test } from 'vitest';
import type { Worker } from '../../registry/worker.js';
import { ManualClock, captureLogger } from '../test-support/fakes.js';
import { FleetFeed, type FleetSnapshot } from './fleet-feed.js';

const worker = (id: string, active: boolean, lastHeartbeat = 0): Worker => ({
  worker_id: id, worker_ip: '10.0.0.1', total_cpu: 0, total_memory: 0, total_storage: 0, total_gpu: 0,
  is_active: active, last_heartbeat: lastHeartbeat, registered_at: new Date(0), updated_at: new Date(0),
});

const FULL_READ_MS = 30_000;
const QUIET_MS = 300_000;

/** The overlay of this master's own sessions on the database's view, on a manual clock. */
function setup(initial: Worker[], horizon?: { others: { count: number }; swept: { count: number } }): {
  feed: FleetFeed;
  clock: ManualClock;
  db: Worker[];
  held: Set<string>;
  seen: FleetSnapshot[];
  version: { value: string | null };
} {
  const clock = new ManualClock();
  const db: Worker[] = [...initial];
  const held = new Set<string>();
  const version = { value: 'v1' as string | null };
  const feed = new FleetFeed({
    source: { getAllWorkers: () => Promise.resolve(db.map((w) => ({ ...w }))) },
    local: { heldWorkerIds: () => held, specsOf: (id) => (held.has(id) ? { total_cpu: 8, total_memory: 16, total_storage: 100, total_gpu: 1 } : undefined) },
    version: { read: () => Promise.resolve(version.value) },
    clock,
    logger: captureLogger().logger,
    intervalMs: 1_000,
    fullReadMs: FULL_READ_MS,
    ...(horizon === undefined
      ? {}
      : { otherMasters: () => Promise.resolve(horizon.others.count), sweptFlags: () => horizon.swept.count, quietFullReadMs: QUIET_MS }),
  });
  const seen: FleetSnapshot[] = [];
  feed.subscribe((s) => seen.push(s));
  return { feed, clock, db, held, seen, version };
}

const row = (s: FleetSnapshot | undefined, id: string): Record<string, unknown> | undefined => s?.workers.find((w) => w.worker_id === id);
const active = (s: FleetSnapshot | undefined, id: string): unknown => row(s, id)?.is_active;

describe('FleetFeed', () => {
  test('a worker held here is active with its session specs at the next tick, without a database read', async () => {
    const { feed, clock, held, seen } = setup([worker('a', false)]);
    await clock.advanceAsync(0);
    expect(active(seen.at(-1), 'a')).toBe(false);
    const reads = feed.reads;
    held.add('a');
    await clock.advanceAsync(1_000);
    expect(seen.at(-1)?.workers[0]).toMatchObject({ is_active: true, total_cpu: 8, total_gpu: 1 });
    expect(feed.reads).toBe(reads);
  });

  test('a worker dropped here is inactive until the database agrees or it beats elsewhere (seen at the next full read)', async () => {
    const { clock, db, held, seen } = setup([worker('a', true, 1)]);
    held.add('a');
    await clock.advanceAsync(1_000);
    held.delete('a');
    await clock.advanceAsync(1_000);
    expect(active(seen.at(-1), 'a')).toBe(false);
    // Another master took it: a heartbeat newer than the drop.
    db[0] = worker('a', true, Math.floor(clock.now() / 1000) + 1);
    await clock.advanceAsync(FULL_READ_MS);
    expect(active(seen.at(-1), 'a')).toBe(true);
  });

  test('the heartbeats this master wrote move last_heartbeat of its workers without a read', async () => {
    const { feed, clock, held, seen } = setup([worker('a', true, 100), worker('b', true, 100)]);
    held.add('a');
    await clock.advanceAsync(1_000);
    const reads = feed.reads;
    feed.heartbeatsWritten(['a'], 250, new Date(250_000));
    // A heartbeat alone: in the next snapshot, at most BEATS_ONLY_EVERY_MS after the last.
    await clock.advanceAsync(5_000);
    expect(row(seen.at(-1), 'a')).toMatchObject({ last_heartbeat: 250, updated_at: new Date(250_000).toISOString() });
    // Not held here: another master's worker, which this master does not know about.
    expect(row(seen.at(-1), 'b')).toMatchObject({ last_heartbeat: 100 });
    expect(feed.reads).toBe(reads);
  });

  test('a heartbeat written here moves the row to what the database will say (the quick path and a full read agree)', async () => {
    const { feed, clock, db, held, seen } = setup([worker('a', true, 100)]);
    held.add('a');
    await clock.advanceAsync(1_000);
    feed.heartbeatsWritten(['a'], 250, new Date(250_000));
    await clock.advanceAsync(5_000);
    const quick = row(seen.at(-1), 'a');
    expect(quick).toMatchObject({ last_heartbeat: 250, is_active: true, total_cpu: 8 });
    // An older write than what is shown moves nothing.
    feed.heartbeatsWritten(['a'], 200, new Date(200_000));
    await clock.advanceAsync(5_000);
    expect(row(seen.at(-1), 'a')).toEqual(quick);
    db[0] = { ...worker('a', true, 250), updated_at: new Date(250_000) };
    await feed.refresh();
    expect(row(seen.at(-1), 'a')).toEqual(quick);
  });

  test('heartbeats alone go out at most every 5 s; any other change at the next tick, with them', async () => {
    const { feed, clock, held, seen } = setup([worker('a', true, 100), worker('b', false)]);
    held.add('a');
    await clock.advanceAsync(1_000);
    const before = seen.length;
    for (let s = 1; s <= 4; s += 1) {
      feed.heartbeatsWritten(['a'], 100 + s, new Date((100 + s) * 1000));
      await clock.advanceAsync(1_000);
    }
    expect(seen.length).toBeLessThanOrEqual(before + 1);
    held.add('b');
    await clock.advanceAsync(1_000);
    expect(row(seen.at(-1), 'b')).toMatchObject({ is_active: true });
    expect(row(seen.at(-1), 'a')).toMatchObject({ last_heartbeat: 104 });
    feed.heartbeatsWritten(['a'], 110, new Date(110_000));
    await clock.advanceAsync(5_000);
    expect(row(seen.at(-1), 'a')).toMatchObject({ last_heartbeat: 110 });
  });

  test('a snapshot whose only news is heartbeats names them, grouped by their new values, after the snapshot before; any other change makes a whole one', async () => {
    const { feed, clock, db, held, seen } = setup([worker('a', true, 100), worker('b', true, 100), worker('c', true, 100), worker('d', false)]);
    held.add('a');
    held.add('b');
    held.add('c');
    await clock.advanceAsync(1_000);
    const first = seen.at(-1);
    feed.heartbeatsWritten(['a', 'b'], 105, new Date(105_000));
    await clock.advanceAsync(1_000);
    feed.heartbeatsWritten(['c'], 106, new Date(106_000));
    await clock.advanceAsync(5_000);
    const beats = seen.at(-1);
    expect(beats?.seq).toBe((first?.seq ?? 0) + 1);
    expect(beats?.beats?.afterSeq).toBe(first?.seq);
    expect(beats?.beats?.groups).toEqual([
      { last_heartbeat: 105, updated_at: new Date(105_000).toISOString(), worker_ids: ['a', 'b'] },
      { last_heartbeat: 106, updated_at: new Date(106_000).toISOString(), worker_ids: ['c'] },
    ]);
    // The whole fleet is there too (a listener that missed the one before takes it).
    expect(row(beats, 'c')).toMatchObject({ last_heartbeat: 106, is_active: true, total_cpu: 8 });
    // A heartbeat another master wrote, seen by a full read, is a heartbeat too.
    db[3] = { ...worker('d', false, 107), updated_at: new Date(107_000) };
    await feed.refresh();
    await clock.advanceAsync(5_000);
    expect(seen.at(-1)?.beats?.groups).toEqual([{ last_heartbeat: 107, updated_at: new Date(107_000).toISOString(), worker_ids: ['d'] }]);
    // A beat and another change in the same interval: a whole snapshot, with the beat in it.
    feed.heartbeatsWritten(['a'], 112, new Date(112_000));
    held.delete('b');
    await clock.advanceAsync(1_000);
    expect(seen.at(-1)?.beats).toBeUndefined();
    expect(row(seen.at(-1), 'a')).toMatchObject({ last_heartbeat: 112 });
    expect(active(seen.at(-1), 'b')).toBe(false);
  });

  test('a row whose heartbeat moved here and then again by a full read is named once, with the newer values; two writes before a tick: the later wins', async () => {
    const { feed, clock, db, held, seen } = setup([worker('a', true, 100), worker('b', true, 100)]);
    held.add('a');
    held.add('b');
    await clock.advanceAsync(1_000);
    feed.heartbeatsWritten(['a', 'b'], 105, new Date(105_000));
    await clock.advanceAsync(1_000);
    // Another master wrote a newer heartbeat of a (it holds it too for a moment): the full read brings it.
    db[0] = { ...worker('a', true, 108), updated_at: new Date(108_000) };
    await feed.refresh();
    feed.heartbeatsWritten(['b'], 109, new Date(109_000));
    feed.heartbeatsWritten(['b'], 110, new Date(110_000));
    await clock.advanceAsync(5_000);
    expect([...(seen.at(-1)?.beats?.groups ?? [])].sort((x, y) => x.last_heartbeat - y.last_heartbeat)).toEqual([
      { last_heartbeat: 108, updated_at: new Date(108_000).toISOString(), worker_ids: ['a'] },
      { last_heartbeat: 110, updated_at: new Date(110_000).toISOString(), worker_ids: ['b'] },
    ]);
    expect(row(seen.at(-1), 'a')).toMatchObject({ last_heartbeat: 108 });
    expect(row(seen.at(-1), 'b')).toMatchObject({ last_heartbeat: 110 });
  });

  test('nothing changed: no event, one version read per tick, and a full read every fullReadMs only', async () => {
    const { feed, clock, seen } = setup([worker('a', false)]);
    await clock.advanceAsync(0);
    expect(feed.reads).toBe(1);
    await clock.advanceAsync(FULL_READ_MS - 1_000);
    expect(seen).toHaveLength(1);
    expect(feed.reads).toBe(1);
    expect(feed.versionReads).toBe(29);
    await clock.advanceAsync(1_000);
    expect(feed.reads).toBe(2);
    expect(seen).toHaveLength(1);
  });

  test('another master\'s change shows at the next full read; an admin write (a new admission version) at the next tick', async () => {
    const { feed, clock, db, seen, version } = setup([worker('a', false)]);
    await clock.advanceAsync(3_000);
    db[0] = worker('a', true, 5);
    await clock.advanceAsync(FULL_READ_MS - 4_000);
    expect(active(seen.at(-1), 'a')).toBe(false);
    await clock.advanceAsync(1_000);
    expect(active(seen.at(-1), 'a')).toBe(true);
    const reads = feed.reads;

    await clock.advanceAsync(5_000);
    db.push(worker('b', false));
    version.value = 'v2';
    await clock.advanceAsync(1_000);
    expect(feed.reads).toBe(reads + 1);
    expect(seen.at(-1)?.workers.map((w) => w.worker_id)).toEqual(['a', 'b']);
    // Unregistered: gone from the next event.
    db.splice(0, 1);
    version.value = 'v3';
    await clock.advanceAsync(2_000);
    expect(seen.at(-1)?.workers.map((w) => w.worker_id)).toEqual(['b']);
  });

  test('version changes one after another: full reads at most every minFullReadGapMs', async () => {
    const { feed, clock, version } = setup([worker('a', false)]);
    await clock.advanceAsync(0);
    const reads = feed.reads;
    for (let i = 0; i < 10; i += 1) {
      version.value = `v-${i}`;
      await clock.advanceAsync(1_000);
    }
    // 10 s, a new version every second: one read per 2 s (the default gap).
    expect(feed.reads - reads).toBe(5);
  });

  test('an inventory written here asks for a full read at the next tick', async () => {
    const { feed, clock } = setup([worker('a', false)]);
    await clock.advanceAsync(5_000);
    const reads = feed.reads;
    feed.inventoriesWritten();
    await clock.advanceAsync(1_000);
    expect(feed.reads).toBe(reads + 1);
  });

  test('the timer stops with the last listener; a listener that comes back gets the last snapshot at once and a fresh read if it is old', async () => {
    const { feed, clock, seen } = setup([worker('a', false)]);
    await clock.advanceAsync(1_000);
    const off = feed.subscribe(() => undefined);
    off();
    await clock.advanceAsync(0);
    const versionReads = feed.versionReads;
    // The first listener still listens: one timer, not two.
    await clock.advanceAsync(2_000);
    expect(feed.versionReads).toBe(versionReads + 2);
    feed.close();
    const reads = feed.reads;
    await clock.advanceAsync(FULL_READ_MS * 2);
    expect(feed.reads).toBe(reads);
    const again: FleetSnapshot[] = [];
    feed.subscribe((s) => again.push(s));
    expect(again).toHaveLength(1);
    await clock.advanceAsync(0);
    expect(feed.reads).toBe(reads + 1);
    expect(seen.length).toBeGreaterThan(0);
    feed.close();
  });

  test('a date out of range (written by another tool) is shown as null, the rest of the fleet as ever', async () => {
    const { feed, clock, db, seen } = setup([worker('a', false)]);
    await clock.advanceAsync(0);
    db.push({ ...worker('b', false), registered_at: new Date(Number.NaN) });
    await clock.advanceAsync(FULL_READ_MS);
    expect(seen.at(-1)?.workers.map((w) => [w.worker_id, w.registered_at])).toEqual([['a', '1970-01-01T00:00:00.000Z'], ['b', null]]);
    feed.close();
  });

  describe('with the write horizon', () => {
    const lone = (): { others: { count: number }; swept: { count: number } } => ({ others: { count: 0 }, swept: { count: 0 } });

    test('no other master serves: a full read only every quietFullReadMs', async () => {
      const { feed, clock, seen } = setup([worker('a', false)], lone());
      await clock.advanceAsync(0);
      await clock.advanceAsync(QUIET_MS - 1_000);
      expect(feed.reads).toBe(1);
      expect(feed.horizonReads).toBeLessThanOrEqual(QUIET_MS / FULL_READ_MS);
      await clock.advanceAsync(1_000);
      expect(feed.reads).toBe(2);
      expect(seen).toHaveLength(1);
      feed.close();
    });

    test('another master starts serving: its workers\' changes show within fullReadMs again', async () => {
      const h = lone();
      const { feed, clock, db, seen } = setup([worker('a', false)], h);
      await clock.advanceAsync(3 * FULL_READ_MS);
      const reads = feed.reads;
      h.others.count = 1;
      db[0] = worker('a', true, 5);
      await clock.advanceAsync(FULL_READ_MS);
      expect(feed.reads).toBe(reads + 1);
      expect(active(seen.at(-1), 'a')).toBe(true);
      feed.close();
    });

    test('this master\'s sweep flagged workers: read at the next tick', async () => {
      const h = lone();
      const { feed, clock, db, seen } = setup([worker('a', true, 1)], h);
      await clock.advanceAsync(3 * FULL_READ_MS);
      const reads = feed.reads;
      db[0] = worker('a', false, 1);
      h.swept.count += 1;
      await clock.advanceAsync(1_000);
      expect(feed.reads).toBe(reads + 1);
      expect(active(seen.at(-1), 'a')).toBe(false);
      feed.close();
    });

    test('a worker dropped here stays inactive between the quiet reads (the drop is remembered that long)', async () => {
      const { feed, clock, held, seen } = setup([worker('a', true, 1)], lone());
      await clock.advanceAsync(3 * FULL_READ_MS);
      held.add('a');
      await clock.advanceAsync(1_000);
      held.delete('a');
      // The flag's write landed, but the feed reads the registry only every quiet period.
      await clock.advanceAsync(QUIET_MS / 2);
      expect(active(seen.at(-1), 'a')).toBe(false);
      feed.close();
    });
  });

  test('a row moved in place by heartbeats written here keeps them when it is worked out again without a read (specs changed, worker dropped)', async () => {
    const clock = new ManualClock();
    const held = new Set<string>(['a']);
    let cpus = 8;
    const feed = new FleetFeed({
      source: { getAllWorkers: () => Promise.resolve([worker('a', true, 100)]) },
      local: { heldWorkerIds: () => held, specsOf: (id) => (held.has(id) ? { total_cpu: cpus, total_memory: 16, total_storage: 100, total_gpu: 0 } : undefined) },
      clock,
      logger: captureLogger().logger,
      intervalMs: 1_000,
      fullReadMs: FULL_READ_MS,
    });
    const seen: FleetSnapshot[] = [];
    feed.subscribe((s) => seen.push(s));
    await clock.advanceAsync(1_000);
    const reads = feed.reads;
    feed.heartbeatsWritten(['a'], 250, new Date(250_000));
    await clock.advanceAsync(5_000);
    expect(row(seen.at(-1), 'a')).toMatchObject({ last_heartbeat: 250, total_cpu: 8 });
    // A driver update: new specs from the session; the row is worked out again from the last read (last_heartbeat 100).
    cpus = 16;
    await clock.advanceAsync(1_000);
    expect(row(seen.at(-1), 'a')).toMatchObject({ last_heartbeat: 250, updated_at: new Date(250_000).toISOString(), total_cpu: 16 });
    // Two more writes, one a tick: the later one shows.
    feed.heartbeatsWritten(['a'], 255, new Date(255_000));
    await clock.advanceAsync(1_000);
    feed.heartbeatsWritten(['a'], 260, new Date(260_000));
    await clock.advanceAsync(5_000);
    expect(row(seen.at(-1), 'a')).toMatchObject({ last_heartbeat: 260 });
    // Dropped here: inactive, its last heartbeat still the one written here.
    held.delete('a');
    await clock.advanceAsync(1_000);
    expect(row(seen.at(-1), 'a')).toMatchObject({ is_active: false, last_heartbeat: 260 });
    expect(feed.reads).toBe(reads);
    feed.close();
  });

  test('the session table is listed again only when it may have changed (local.changes moved)', async () => {
    const clock = new ManualClock();
    const held = new Set<string>(['a']);
    const changes = { value: 1 };
    let listed = 0;
    const feed = new FleetFeed({
      source: { getAllWorkers: () => Promise.resolve([worker('a', false), worker('b', false)]) },
      local: {
        heldWorkerIds: () => ((listed += 1), held),
        specsOf: () => ({ total_cpu: 8, total_memory: 16, total_storage: 100, total_gpu: 1 }),
        changes: () => changes.value,
      },
      clock,
      logger: captureLogger().logger,
      intervalMs: 1_000,
      fullReadMs: FULL_READ_MS,
    });
    const seen: FleetSnapshot[] = [];
    feed.subscribe((s) => seen.push(s));
    await clock.advanceAsync(0);
    expect(active(seen.at(-1), 'a')).toBe(true);
    const before = listed;
    await clock.advanceAsync(10_000);
    expect(listed).toBe(before);
    held.add('b');
    changes.value += 1;
    await clock.advanceAsync(1_000);
    expect(listed).toBe(before + 1);
    expect(active(seen.at(-1), 'b')).toBe(true);
    feed.close();
  });

  test('a scrape while a page listens reads nothing (the feed keeps its view); with none, a read older than maxAgeMs is made', async () => {
    const { feed, clock, held } = setup([worker('a', false), worker('b', true, 1)], { others: { count: 0 }, swept: { count: 0 } });
    held.add('a');
    await clock.advanceAsync(3 * FULL_READ_MS);
    const reads = feed.reads;
    const got = await feed.stateForScrape(FULL_READ_MS / 2, 1_000);
    expect(feed.reads).toBe(reads);
    expect(got?.state).toMatchObject({ active: 2, inactive: 0 });
    // The horizon was read within the last period and found nobody: the view is that recent.
    expect(got?.ageMs).toBeLessThanOrEqual(FULL_READ_MS);
    feed.close();
    await clock.advanceAsync(FULL_READ_MS);
    const again = feed.stateForScrape(FULL_READ_MS / 2, 1_000);
    await clock.advanceAsync(0);
    await again;
    expect(feed.reads).toBe(reads + 1);
  });
});
