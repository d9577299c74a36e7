import { MongoClient } from 'mongodb';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { createCredentialStore } from '../../packages/master/src/registry/credential-store.js';
import { createMaster } from '../../packages/master/src/server/master.js';
import { createWorkerRegistry } from '../../packages/master/src/registry/worker-registry.js';
import { FAST, captureLogger, waitFor } from './helpers/harness.js';
import { ownDevDb, type OwnDevDb } from './helpers/own-devdb.js';
import { RawAgent } from './helpers/raw-agent.js';

/**
 * The worker history through a database crash, on a dev database of the
 * test's own: admissions go on while it is down, their events wait in the
 * master's bounded queue (what does not fit is dropped, counted and logged),
 * and once it is back each kept event is in WORKER_EVENTS exactly once.
 */

let dev: OwnDevDb;
const cleanup: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  dev = await ownDevDb('history-outage');
  await dev.start();
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  await dev.remove();
});

async function metric(master: ReturnType<typeof createMaster>, name: string): Promise<number> {
  const text = await master.metricsRegistry.getSingleMetricAsString(name);
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? Number.NaN);
}

test('a crash of the database: admissions go on, events are kept up to the bound, dropped ones counted, none written twice', async () => {
  const admin = new MongoClient(dev.uri, { serverSelectionTimeoutMS: 2_000 });
  cleanup.push(() => admin.close());
  const db = admin.db('cluster_db');
  const registry = createWorkerRegistry(db);
  await registry.ensureCollections();
  await registry.registerWorker('o1', '127.0.0.1');
  const token = await createCredentialStore(db).issue('o1');

  const client = new MongoClient(dev.uri, { serverSelectionTimeoutMS: 500, heartbeatFrequencyMS: 500 });
  const { logger, lines } = captureLogger();
  const master = createMaster({
    db: client.db('cluster_db'),
    connect: () => client.connect(),
    logger,
    options: { ...FAST, eventFlushIntervalMs: 100, eventQueueMax: 6 },
    closeDatabase: () => client.close(),
  });
  cleanup.push(() => master.close());
  const { port } = await master.start();
  const url = `ws://127.0.0.1:${port}`;
  await waitFor('ready', () => master.notReadyReason() === null);
  const events = db.collection('WORKER_EVENTS');
  (await RawAgent.admitted(url, { workerId: 'o1', token })).startBeating(200);
  await waitFor('the admission written', async () => (await events.countDocuments({ kind: 'admitted' })) === 1);

  await dev.crash();
  // Each reconnect while it is down: a disconnected (replaced) and an admitted event; 5 of them make 10.
  for (let i = 0; i < 5; i += 1) {
    const again = await RawAgent.admitted(url, { workerId: 'o1', token });
    again.startBeating(200);
  }
  await waitFor('events dropped', async () => (await metric(master, 'cluster_master_worker_events_dropped_total')) >= 4);
  expect(await metric(master, 'cluster_master_worker_events_pending')).toBe(6);

  await dev.start();
  await waitFor('the queue written', async () => (await metric(master, 'cluster_master_worker_events_pending')) === 0, { timeoutMs: 10_000 });
  const docs = await events.find({}).sort({ at: 1, _id: 1 }).toArray();
  const fromMaster = docs.filter((d) => d.instance !== undefined && !String(d.instance).startsWith('cli@'));
  const written = await metric(master, 'cluster_master_worker_events_written_total');
  const dropped = await metric(master, 'cluster_master_worker_events_dropped_total');
  // Nothing twice: what is stored is what the master counted as written, and written + dropped is what it saw.
  expect(fromMaster).toHaveLength(written);
  expect(written + dropped).toBe(1 + 10 + (fromMaster.filter((d) => d.kind === 'specs_changed').length));
  expect(new Set(fromMaster.map((d) => String(d._id))).size).toBe(fromMaster.length);
  expect(dropped).toBe(4);
  // Said at the flush after the drops (the one under way when they happened may be the one that wrote the queue).
  await waitFor('the drops logged', () => lines.find((l) => l.msg === 'worker events dropped: the queue was full'));
  expect(lines.filter((l) => l.msg === 'worker events dropped: the queue was full').reduce((sum, l) => sum + Number(l.dropped), 0)).toBe(4);
  // Said once per outage at most (none when the insert in flight merely waited for the database to come back).
  expect(lines.filter((l) => l.msg === 'could not write worker events; keeping them for the next try').length).toBeLessThanOrEqual(1);
});
