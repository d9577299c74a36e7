import { MongoClient } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../../test/support/database.js';
import { createCredentialStore, type CredentialStore } from './credential-store.js';
import { closedPort } from '../db/test-support/closed-port.js';
import { ADMISSION_VERSION_ID, createAdmissionVersion, type AdmissionVersion } from './admission-version.js';
import { COLLECTIONS } from './collections.js';
import { WorkerNotFoundError } from '../errors.js';
import { createWorkerRegistry, type WorkerRegistry } from './worker-registry.js';

let t: TestDatabase;
let version: AdmissionVersion;
let registry: WorkerRegistry;
let store: CredentialStore;

beforeEach(async () => {
  t = await openTestDatabase('admission_version');
  registry = createWorkerRegistry(t.db);
  await registry.ensureCollections();
  store = createCredentialStore(t.db);
  version = createAdmissionVersion(t.db);
});

afterEach(async () => {
  await t.close();
});

/** Whether `change` set a new version. */
async function setsNewVersion(change: () => Promise<unknown>): Promise<boolean> {
  const before = await version.read();
  await change();
  const after = await version.read();
  return after !== null && after !== before;
}

describe('admission version', () => {
  it('reads null before any version was set, then a new value at each bump, in one document', async () => {
    expect(await version.read()).toBeNull();
    const seen = new Set<string | null>();
    for (let i = 0; i < 3; i++) {
      await version.bump();
      seen.add(await version.read());
    }
    expect(seen.size).toBe(3);
    expect(seen.has(null)).toBe(false);
    const docs = await t.db.collection(COLLECTIONS.registryVersion).find({}).toArray();
    expect(docs).toHaveLength(1);
    expect(docs[0]?._id).toBe(ADMISSION_VERSION_ID);
  });

  it('a bump that cannot reach the database resolves false instead of failing the write it follows', async () => {
    const client = new MongoClient(`mongodb://127.0.0.1:${await closedPort()}/`, { serverSelectionTimeoutMS: 200 });
    try {
      expect(await createAdmissionVersion(client.db('unreachable')).bump()).toBe(false);
    } finally {
      await client.close();
    }
  });

  it('survives many concurrent first bumps, leaving one document', async () => {
    // bump() reports failure as false (it never throws): every one of them must have set its version.
    const results = await Promise.all(Array.from({ length: 8 }, () => createAdmissionVersion(t.db).bump()));
    expect(results).toEqual(Array(8).fill(true));
    expect(await version.read()).not.toBeNull();
    expect(await t.db.collection(COLLECTIONS.registryVersion).countDocuments()).toBe(1);
  });

  it('changes with every admin write that changes what admission reads', async () => {
    expect(await setsNewVersion(() => registry.registerWorker('w1', '10.0.0.1'))).toBe(true);
    expect(await setsNewVersion(() => store.issue('w1'))).toBe(true);
    expect(await setsNewVersion(() => store.rotate('w1'))).toBe(true);
    expect(
      await setsNewVersion(() =>
        registry.updateWorkerInfo({ worker_id: 'w1', worker_ip: '10.0.0.2', total_cpu: 4, total_memory: 8, total_storage: 100, total_gpu: 0, is_active: false, last_heartbeat: 0 }),
      ),
    ).toBe(true);
    expect(await setsNewVersion(() => store.remove('w1'))).toBe(true);
    expect(await setsNewVersion(() => registry.unregisterWorker('w1'))).toBe(true);
  });

  it('stays for writes that changed nothing, and for the master paths', async () => {
    await registry.registerWorker('w1', '10.0.0.1');
    expect(await setsNewVersion(() => expect(registry.unregisterWorker('nobody')).rejects.toBeInstanceOf(WorkerNotFoundError))).toBe(false);
    expect(await setsNewVersion(() => store.remove('nobody'))).toBe(false);
    const now = new Date();
    expect(
      await setsNewVersion(async () => {
        await registry.recordHeartbeats(['w1'], Math.floor(now.getTime() / 1000), now);
        await registry.updateSpecs([{ worker_id: 'w1', total_cpu: 2, total_memory: 4, total_storage: 50, total_gpu: 0 }], now);
        await registry.markInactive(['w1'], now);
      }),
    ).toBe(false);
  });
});
