import { describe, expect, test } from 'vitest';
import type { Worker } from '../../registry/worker.js';
import { ManualClock, captureLogger } from '../test-support/fakes.js';
import { FleetFeed } from './fleet-feed.js';
import { fleetState } from './fleet-state.js';

const worker = (id: string, active: boolean, lastHeartbeat: number): Worker => ({
  worker_id: id, worker_ip: '10.0.0.1', total_cpu: 0, total_memory: 0, total_storage: 0, total_gpu: 0,
  is_active: active, last_heartbeat: lastHeartbeat, registered_at: new Date(0), updated_at: new Date(0),
});

describe('fleetState', () => {
  test('counts by state; the oldest active heartbeat and the longest-silent inactive worker, in seconds', () => {
    const workers = [worker('a', true, 990), worker('b', true, 970), worker('c', false, 400), worker('d', false, 900)];
    expect(fleetState(workers, 1_000_500)).toEqual({ active: 2, inactive: 2, oldestActiveHeartbeatAgeSeconds: 30, longestInactiveSeconds: 600 });
  });

  test('an inactive worker that never beat is missing since its registration, not since 1970', () => {
    const never = { ...worker('n', false, 0), registered_at: new Date(900_000) };
    expect(fleetState([never], 1_000_000).longestInactiveSeconds).toBe(100);
    expect(fleetState([{ ...never, registered_at: new Date(Number.NaN) }, worker('d', false, 990)], 1_000_000).longestInactiveSeconds).toBe(1_000);
  });

  test('an empty registry, and a heartbeat from a clock ahead of ours, give 0, never a negative age', () => {
    expect(fleetState([], 1_000_000)).toEqual({ active: 0, inactive: 0, oldestActiveHeartbeatAgeSeconds: 0, longestInactiveSeconds: 0 });
    expect(fleetState([worker('a', true, 1_005)], 1_000_000).oldestActiveHeartbeatAgeSeconds).toBe(0);
  });
});

describe('FleetFeed.stateForScrape', () => {
  function setup(read: () => Promise<Worker[]>): { feed: FleetFeed; clock: ManualClock } {
    const clock = new ManualClock();
    const feed = new FleetFeed({ source: { getAllWorkers: read }, local: { heldWorkerIds: () => [], specsOf: () => undefined }, clock, logger: captureLogger().logger, intervalMs: 1_000, fullReadMs: 30_000 });
    return { feed, clock };
  }

  test('a read no older than maxAgeMs is reused; an older one is refreshed: no page open, one read per scrape at most', async () => {
    const db = [worker('a', true, 0)];
    const { feed, clock } = setup(() => Promise.resolve(db.map((w) => ({ ...w }))));
    expect((await feed.stateForScrape(5_000, 2_000))?.state.active).toBe(1);
    expect(feed.reads).toBe(1);
    db.push(worker('b', false, 0));
    await clock.advanceAsync(4_000);
    expect((await feed.stateForScrape(5_000, 2_000))?.state).toMatchObject({ active: 1, inactive: 0 });
    expect(feed.reads).toBe(1);
    await clock.advanceAsync(2_000);
    expect((await feed.stateForScrape(5_000, 2_000))?.state).toMatchObject({ active: 1, inactive: 1 });
    expect(feed.reads).toBe(2);
  });

  test('a database that does not answer: the scrape waits waitMs, then reports the last read with its age (nothing before a first read)', async () => {
    let answer = true;
    const { feed, clock } = setup(() => (answer ? Promise.resolve([worker('a', true, 0)]) : new Promise<Worker[]>(() => undefined)));
    await feed.stateForScrape(5_000, 2_000);
    answer = false;
    await clock.advanceAsync(10_000);
    const pending = feed.stateForScrape(5_000, 2_000);
    await clock.advanceAsync(2_000);
    expect(await pending).toEqual({ state: expect.objectContaining({ active: 1 }) as unknown, ageMs: 12_000 });

    const never = setup(() => new Promise<Worker[]>(() => undefined));
    const first = never.feed.stateForScrape(5_000, 2_000);
    await never.clock.advanceAsync(2_000);
    expect(await first).toBeUndefined();
  });
});
