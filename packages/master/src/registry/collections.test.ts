import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../../test/support/database.js';
import { COLLECTIONS, ensureCollections } from './collections.js';
import { RegistrySchemaError } from '../errors.js';

let t: TestDatabase;

beforeEach(async () => {
  t = await openTestDatabase('collections');
});

afterEach(async () => {
  await t.close();
});

const names = async () => (await t.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
const indexes = async (collection: string) =>
  (await t.db.collection(collection).indexes())
    .map((index) => `${JSON.stringify(index.key)}${index.unique === true ? ' unique' : ''}`)
    .sort();

describe('ensureCollections', () => {
  it('creates the five cluster_db collections, the credentials and version collections and their indexes', async () => {
    const report = await ensureCollections(t.db);
    expect(await names()).toEqual(
      ['ADMISSION_SNAPSHOT', 'ASSIGNMENTS', 'REGISTRY_VERSION', 'RESULTS', 'TASKS', 'USERS', 'WORKER_CREDENTIALS', 'WORKER_REGISTRY'].sort(),
    );
    expect(await indexes(COLLECTIONS.workers)).toEqual(
      ['{"_id":1}', '{"is_active":1}', '{"last_heartbeat":1}', '{"worker_id":1} unique', '{"worker_ip":1}'].sort(),
    );
    expect(await indexes(COLLECTIONS.credentials)).toEqual(['{"_id":1}', '{"worker_id":1} unique'].sort());
    expect(report.createdCollections).toHaveLength(8);
    expect(report.createdIndexes).toEqual([
      'WORKER_REGISTRY.worker_id_1',
      'WORKER_REGISTRY.worker_ip_1',
      'WORKER_REGISTRY.is_active_1',
      'WORKER_REGISTRY.last_heartbeat_1',
      'WORKER_CREDENTIALS.worker_id_1',
    ]);
  });

  it('is idempotent: a second run creates nothing and changes nothing', async () => {
    await ensureCollections(t.db);
    await t.db.collection(COLLECTIONS.workers).insertOne({ worker_id: 'kept' });
    expect(await ensureCollections(t.db)).toEqual({ createdCollections: [], createdIndexes: [] });
    expect(await t.db.collection(COLLECTIONS.workers).countDocuments({})).toBe(1);
    expect(await indexes(COLLECTIONS.workers)).toHaveLength(5);
  });

  it('completes what a partial setup left out', async () => {
    await t.db.createCollection(COLLECTIONS.workers);
    await t.db.collection(COLLECTIONS.workers).createIndex({ worker_id: 1 }, { unique: true });
    const report = await ensureCollections(t.db);
    expect(report.createdCollections).not.toContain(COLLECTIONS.workers);
    expect(report.createdIndexes).not.toContain('WORKER_REGISTRY.worker_id_1');
    expect(await indexes(COLLECTIONS.workers)).toHaveLength(5);
  });

  it('survives several processes running it at once', async () => {
    const results = await Promise.allSettled([ensureCollections(t.db), ensureCollections(t.db), ensureCollections(t.db)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(await names()).toHaveLength(8);
  });

  it('refuses to go on with a non-unique index on worker_id', async () => {
    await t.db.collection(COLLECTIONS.workers).createIndex({ worker_id: 1 });
    const error = await ensureCollections(t.db).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistrySchemaError);
    expect((error as Error).message).toContain('non-unique index');
  });

  it('explains duplicate worker ids that block the unique index', async () => {
    await t.db.collection(COLLECTIONS.workers).insertMany([{ worker_id: 'twin' }, { worker_id: 'twin' }]);
    const error = await ensureCollections(t.db).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistrySchemaError);
    expect((error as Error).message).toContain('same worker_id');
  });
});
