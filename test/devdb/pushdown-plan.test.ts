import { MongoClient, type Document } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLLECTIONS } from '../../packages/master/src/registry/collections.js';
import { newWorkerDocument } from '../../packages/master/src/registry/document.js';
import { createWorkerRegistry, type WorkerRegistry } from '../../packages/master/src/registry/worker-registry.js';
import { createAdmissionVersion } from '../../packages/master/src/registry/admission-version.js';
import { createCredentialStore } from '../../packages/master/src/registry/credential-store.js';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { collectionOf, explainFind, filtersOf, isFerretDb, pushdownBuilt, readsThroughIndex } from './explain.js';

/**
 * Every statement the master sends with a filter must read WORKER_REGISTRY,
 * WORKER_CREDENTIALS and REGISTRY_VERSION through an index (EXPLAIN QUERY PLAN
 * via FerretDB's explain, which builds the same SELECT as find, update, delete
 * and count). The statements are the ones the registry code really sends,
 * taken from the driver's command monitoring while it runs each path.
 *
 * Not here, by design: the reads of everything (admission view, all workers,
 * all credentials), which have no filter, and the admin's spec queries
 * (total_cpu, total_memory, total_gpu), which the registry does not index
 * (MongoDB scans for them too).
 */
const NOW = new Date('2025-10-15T10:35:00Z');
const SECOND = Math.floor(NOW.getTime() / 1000);
const ids = Array.from({ length: 120 }, (_, i) => `worker-${String(i).padStart(3, '0')}`);

let t: TestDatabase;
let monitored: MongoClient;
let sent: Document[];
let ferret: boolean;

async function statementsOf(run: (registry: WorkerRegistry) => Promise<unknown>): Promise<{ collection: string; filter: Document }[]> {
  sent = [];
  await run(createWorkerRegistry(monitored.db(t.name), { now: () => NOW }));
  return sent.flatMap((command) => {
    const collection = collectionOf(command);
    return collection === undefined ? [] : filtersOf(command).map((filter) => ({ collection, filter }));
  });
}

beforeAll(async () => {
  t = await openTestDatabase('pushdown_plan');
  ferret = await isFerretDb(t.db);
  await createWorkerRegistry(t.db).ensureCollections();
  await t.db
    .collection(COLLECTIONS.workers)
    .insertMany(ids.map((id, i) => ({ ...newWorkerDocument(id, `10.0.0.${i % 4}`, NOW), is_active: i % 2 === 0 })));
  monitored = new MongoClient(t.uri, { monitorCommands: true });
  await monitored.connect();
  monitored.on('commandStarted', (event) => sent.push(event.command));
});

afterAll(async () => {
  await monitored.close();
  await t.close();
});

const lastWritten = new Map(ids.slice(40, 60).map((id, i) => [id, SECOND - (i % 3)]));
const paths: [string, (registry: WorkerRegistry) => Promise<unknown>][] = [
  ['recordHeartbeats', (r) => r.recordHeartbeats(ids.slice(0, 100), SECOND, NOW)],
  ['markInactive', (r) => r.markInactive(ids.slice(0, 30), NOW)],
  ['markInactive with last written seconds ($or)', (r) => r.markInactive(ids.slice(30, 60), NOW, lastWritten)],
  ['sweepStale', (r) => r.sweepStale(SECOND - 30, NOW)],
  [
    'updateSpecs (updateMany $in and updateOne)',
    (r) =>
      r.updateSpecs(
        [
          ...ids.slice(0, 3).map((worker_id) => ({ worker_id, total_cpu: 8, total_memory: 16, total_storage: 100, total_gpu: 0 })),
          { worker_id: ids[3] ?? '', total_cpu: 4, total_memory: 8, total_storage: 50, total_gpu: 1 },
        ],
        NOW,
      ),
  ],
  ['existingWorkerIds', (r) => r.existingWorkerIds(ids.slice(0, 50))],
  ['getWorker', (r) => r.getWorker(ids[5] ?? '')],
  ['workerExists (count)', (r) => r.workerExists(ids[5] ?? '')],
  ['updateHeartbeat', (r) => r.updateHeartbeat(ids[6] ?? '', SECOND)],
  [
    'updateWorkerInfo',
    (r) =>
      r.updateWorkerInfo({
        worker_id: ids[7] ?? '',
        total_cpu: 2,
        total_memory: 4,
        total_storage: 10,
        total_gpu: 0,
        is_active: true,
        last_heartbeat: SECOND,
      }),
  ],
  ['findActive', (r) => r.findActive()],
  ['findByIp', (r) => r.findByIp('10.0.0.1')],
  ['findStale', (r) => r.findStale(SECOND - 30)],
  ['findWorkers (active and ip)', (r) => r.findWorkers({ active: true, ip: '10.0.0.2' })],
  ['unregisterWorker (delete)', (r) => r.unregisterWorker(ids[119] ?? '')],
  ['admission version read and bump (by _id)', async () => {
    const version = createAdmissionVersion(monitored.db(t.name), { now: () => NOW });
    await version.bump();
    await version.read();
  }],
  ['credentials: issue, get, rotate, remove', async () => {
    const store = createCredentialStore(monitored.db(t.name), { now: () => NOW });
    await store.issue(ids[8] ?? '');
    await store.get(ids[8] ?? '');
    await store.rotate(ids[8] ?? '');
    await store.remove(ids[8] ?? '');
  }],
];

describe('the statements the master sends', () => {
  it.each(paths)('%s: reads through an index', async (_name, run) => {
    const statements = await statementsOf(run);
    expect(statements.length).toBeGreaterThan(0);
    for (const { collection, filter } of statements) {
      const explained = await explainFind(t.db, collection, filter);
      const where = `${collection} ${JSON.stringify(filter)}: ${explained.plan.join(' | ')}`;
      if (!ferret) {
        // Real MongoDB (MONGODB_URI): its own plan must use an index too.
        expect(explained.plan.join(' '), where).toContain('IXSCAN');
      } else if (pushdownBuilt()) {
        expect(explained.filterPushdown, where).toBe(true);
        expect(readsThroughIndex(explained.plan), where).toBe(true);
      } else if (Object.keys(filter).join() !== '_id') {
        // Built without it (DEVDB_PUSHDOWN=0, DEVDB_UPSTREAM=1): only {_id: X} is pushed down.
        expect(explained.filterPushdown, where).toBe(false);
        expect(explained.plan.some((line) => /^SCAN /.test(line)), where).toBe(true);
      }
    }
  });
});
