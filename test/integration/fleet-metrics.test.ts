import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { COLLECTIONS } from '../../packages/master/src/registry/collections.js';
import { openHarness, waitFor, type Harness, type RunningMaster } from './helpers/harness.js';
import { Scrape } from './helpers/prometheus.js';
import { RawAgent } from './helpers/raw-agent.js';

/**
 * The registry's own state on a real master's /metrics: workers by state and
 * the heartbeat ages, read from the database (the fleet feed the page uses) at
 * scrape time, with no page open, and this master's own sessions laid over it.
 */
const WORKERS = 'cluster_master_registry_workers';
const OLDEST_ACTIVE = 'cluster_master_registry_oldest_active_heartbeat_age_seconds';
const LONGEST_INACTIVE = 'cluster_master_registry_longest_inactive_seconds';
const READ_AGE = 'cluster_master_registry_read_age_seconds';

let h: Harness;
let m: RunningMaster;
const tokens: Record<string, string> = {};
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  h = await openHarness();
  for (const id of ['slow', 'recent', 'gone', 'comes']) tokens[id] = await h.register(id);
  const now = nowSeconds();
  // Two active workers that beat 120 s and 30 s ago (a long timeout keeps the sweep off them), one registered a day
  // ago and gone an hour ago; 'comes' never beat, so it is missing since its registration (now), not since 1970.
  await h.registry.updateHeartbeat('slow', now - 120);
  await h.registry.updateHeartbeat('recent', now - 30);
  await h.registry.updateHeartbeat('gone', now - 3_600);
  await h.registry.markInactive(['gone'], new Date());
  await h.db.collection(COLLECTIONS.workers).updateOne({ worker_id: 'gone' }, { $set: { registered_at: new Date(Date.now() - 86_400_000) } });
  m = await h.startMaster({ heartbeatTimeoutMs: 600_000, heartbeatIntervalMs: 200, fleetGaugeMaxAgeMs: 5_000 });
});
afterAll(async () => {
  await h.close();
});

describe('the registry on /metrics', () => {
  test('workers by state, the oldest active heartbeat and the longest-silent inactive worker, from a fresh read', async () => {
    const registered = (await h.registry.getAllWorkers()).length;
    const s = await Scrape.of(m.http);
    const active = s.value(WORKERS, { state: 'active' });
    expect(active).toBe(2);
    expect(active + s.value(WORKERS, { state: 'inactive' })).toBe(registered);
    expect(s.value(OLDEST_ACTIVE)).toBeGreaterThanOrEqual(120);
    expect(s.value(OLDEST_ACTIVE)).toBeLessThan(130);
    expect(s.value(LONGEST_INACTIVE)).toBeGreaterThanOrEqual(3_600);
    expect(s.value(LONGEST_INACTIVE)).toBeLessThan(3_610);
    expect(s.value(READ_AGE)).toBeLessThan(2);
  });

  test('cluster_master_ready is 1 while /readyz answers 200', async () => {
    expect((await fetch(`${m.http}/readyz`)).status).toBe(200);
    expect((await Scrape.of(m.http)).value('cluster_master_ready')).toBe(1);
  });

  test('a worker admitted here is counted active on a later scrape (reads reused for 5 s, then refreshed)', async () => {
    const before = await Scrape.of(m.http);
    const agent = await RawAgent.admitted(m.url, { workerId: 'comes', token: tokens.comes ?? '' });
    agent.startBeating(200);
    try {
      const after = await waitFor('the admitted worker counted active', async () => {
        const s = await Scrape.of(m.http);
        return s.value(WORKERS, { state: 'active' }) === before.value(WORKERS, { state: 'active' }) + 1 ? s : undefined;
      }, { timeoutMs: 10_000, intervalMs: 250 });
      expect(after.value(WORKERS, { state: 'inactive' })).toBe(before.value(WORKERS, { state: 'inactive' }) - 1);
      expect(after.value(READ_AGE)).toBeLessThanOrEqual(5);
    } finally {
      await agent.close();
    }
  }, 20_000);
});
