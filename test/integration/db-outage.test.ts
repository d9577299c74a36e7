import { MongoClient } from 'mongodb';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { createCredentialStore } from '../../packages/master/src/registry/credential-store.js';
import { createMaster, type Master } from '../../packages/master/src/server/master.js';
import { createWorkerRegistry } from '../../packages/master/src/registry/worker-registry.js';
import { FAST, captureLogger, waitFor, type LogLine } from './helpers/harness.js';
import { ownDevDb, type OwnDevDb } from './helpers/own-devdb.js';
import { RawAgent } from './helpers/raw-agent.js';

/**
 * A dev database of its own that the test stops and starts again (same data
 * directory, same port): the master must keep running, say so on /readyz,
 * retry with backoff, and never sweep while heartbeats cannot be written.
 */
const TIMEOUT = 1_000;

let dev: OwnDevDb;
let uri: string;
const cleanup: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  dev = await ownDevDb('outage');
  uri = dev.uri;
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  await dev.remove();
});

function startMaster(options = {}): { master: Master; logs: LogLine[]; started: Promise<{ port: number }> } {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 500, heartbeatFrequencyMS: 500 });
  const { logger, lines } = captureLogger();
  const master = createMaster({
    db: client.db('cluster_db'),
    connect: () => client.connect(),
    logger,
    options: { ...FAST, ...options },
    closeDatabase: () => client.close(),
  });
  cleanup.push(() => master.close());
  return { master, logs: lines, started: master.start() };
}

async function readyz(masterPort: number): Promise<number> {
  return (await fetch(`http://127.0.0.1:${masterPort}/readyz`)).status;
}

function adminClient(): MongoClient {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 2_000 });
  cleanup.push(() => client.close());
  return client;
}

test('database down at start: the master listens, says 503, retries, and serves once it is up', async () => {
  const { master, logs, started } = startMaster();
  const { port: masterPort } = await started;
  expect((await fetch(`http://127.0.0.1:${masterPort}/healthz`)).status).toBe(200);
  expect(await readyz(masterPort)).toBe(503);
  expect((await RawAgent.refused(`ws://127.0.0.1:${masterPort}`, { workerId: 'w1', token: 'x'.repeat(43) })).status).toBe(503);
  await waitFor('an error logged', () => logs.some((l) => l.level === 50));
  // No Retry-After while the database fails: when the load ends is unknown, so agents keep their own backoff.
  expect(await RawAgent.refused(`ws://127.0.0.1:${masterPort}`, { workerId: 'w1', token: 'x'.repeat(43) })).toEqual({
    status: 503,
    body: 'registry not loaded yet',
  });
  await new Promise((r) => setTimeout(r, 600)); // several retries (100, 200, 400 ms)
  expect(logs.filter((l) => l.level === 50)).toHaveLength(1); // once per outage
  expect(master.notReadyReason()).toBe('registry not loaded yet');

  await dev.start();
  const admin = adminClient();
  const db = admin.db('cluster_db');
  await waitFor('ready', async () => (await readyz(masterPort)) === 200, { timeoutMs: 10_000, intervalMs: 50 });
  expect(logs.some((l) => l.msg === 'database reachable again')).toBe(true);
  expect((await db.listCollections().toArray()).map((c) => c.name)).toContain('WORKER_REGISTRY');
  await createWorkerRegistry(db).registerWorker('w1', '127.0.0.1');
  const token = await createCredentialStore(db).issue('w1');
  const agent = await RawAgent.admitted(`ws://127.0.0.1:${masterPort}`, { workerId: 'w1', token });
  await agent.close();
});

test('an outage longer than the timeout: connected agents keep beating and none is flagged when it ends', async () => {
  await dev.start();
  const admin = adminClient();
  const db = admin.db('cluster_db');
  const registry = createWorkerRegistry(db);
  const credentials = createCredentialStore(db);
  await registry.ensureCollections();
  const ids = ['o1', 'o2', 'o3'];
  const tokens: string[] = [];
  for (const id of ids) {
    await registry.registerWorker(id, '127.0.0.1');
    tokens.push(await credentials.issue(id));
  }
  const { master, logs, started } = startMaster();
  const { port: masterPort } = await started;
  const url = `ws://127.0.0.1:${masterPort}`;
  await waitFor('ready', () => master.notReadyReason() === null);
  const agents = await Promise.all(ids.map((id, i) => RawAgent.admitted(url, { workerId: id, token: tokens[i] ?? '' })));
  for (const a of agents) a.startBeating(200);
  await waitFor('all active', async () => (await registry.findActive()).length === 3);
  // Sweeps run while the database is up (the start grace is over).
  await waitFor('a sweep', async () => (await master.metrics.sweepDuration.get()).values.some((v) => v.value > 0), {
    timeoutMs: 3_000,
  });

  await dev.crash();
  const outageStart = performance.now();
  await waitFor('not ready', async () => (await readyz(masterPort)) === 503, { timeoutMs: 5_000 });
  const sweepsBefore = (await master.metrics.sweepDuration.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value;
  // Outage: three timeouts long, so that the stored heartbeats are older than the
  // sweep's cutoff (timeout + 2 s of rounding and skew margin) when it ends.
  await new Promise((r) => setTimeout(r, 3 * TIMEOUT));
  const sweepsDuring = (await master.metrics.sweepDuration.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value;
  expect(sweepsDuring).toBe(sweepsBefore);
  expect(agents.every((a) => a.ws.readyState === a.ws.OPEN)).toBe(true);

  await dev.start();
  // From now on, watch: the stored heartbeats are 3+ s old, older than the timeout,
  // but the sweep must come only after this master's heartbeats were written.
  const flips: string[] = [];
  const recoveredAt = await waitFor(
    'ready again',
    async () => ((await readyz(masterPort)) === 200 ? performance.now() : undefined),
    { timeoutMs: 10_000, intervalMs: 20 },
  );
  // The sweep may run from one timeout after the recovery on: watch a while past that.
  const until = recoveredAt + 1.5 * TIMEOUT;
  while (performance.now() < until) {
    const docs = await db.collection('WORKER_REGISTRY').find({}).toArray();
    for (const d of docs) if (d.is_active !== true) flips.push(String(d.worker_id));
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(flips).toEqual([]);
  expect(performance.now() - outageStart).toBeGreaterThan(3 * TIMEOUT);
  const errors = logs.filter((l) => l.level === 50);
  expect(errors.length).toBeGreaterThanOrEqual(1);
  expect(errors.length).toBeLessThanOrEqual(2); // once per outage (the view refresh and the writer may each notice first)
  expect(logs.filter((l) => l.msg === 'database reachable again')).toHaveLength(1);
  expect(logs.filter((l) => l.msg === 'workers flagged inactive')).toEqual([]);
  for (const a of agents) await a.close();
});
