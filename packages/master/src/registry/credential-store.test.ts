import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../../test/support/database.js';
import { COLLECTIONS } from './collections.js';
import { InvalidWorkerIdError, WorkerNotFoundError } from '../errors.js';
import { createWorkerRegistry, type WorkerRegistry } from './worker-registry.js';
import { createCredentialStore, type CredentialStore } from './credential-store.js';
import { hashToken, tokensMatch } from './token.js';
import { registrationKey } from './document.js';

const NOW = new Date('2025-10-15T10:30:00Z');
let t: TestDatabase;
let registry: WorkerRegistry;
let store: CredentialStore;

beforeEach(async () => {
  t = await openTestDatabase('credentials');
  registry = createWorkerRegistry(t.db);
  await registry.ensureCollections();
  store = createCredentialStore(t.db, { now: () => NOW });
});

afterEach(async () => {
  await t.close();
});

describe('credential store', () => {
  it('stores only the hash of the token it returns, bound to the worker document, in WORKER_CREDENTIALS', async () => {
    await registry.registerWorker('worker-1', '10.0.0.1');
    const token = await store.issue('worker-1');
    const worker = await t.db.collection(COLLECTIONS.workers).findOne({ worker_id: 'worker-1' });
    const docs = await t.db.collection(COLLECTIONS.credentials).find({}, { projection: { _id: 0 } }).toArray();
    expect(docs).toEqual([{ worker_id: 'worker-1', token_hash: hashToken(token), worker_doc_id: worker?._id, created_at: NOW }]);
    expect(JSON.stringify(docs)).not.toContain(token);
    expect(await store.get('worker-1')).toBe(hashToken(token));
  });

  it('leaves WORKER_REGISTRY with exactly the contract fields', async () => {
    await registry.registerWorker('worker-1', '10.0.0.1');
    await store.issue('worker-1');
    const doc = await t.db.collection(COLLECTIONS.workers).findOne({ worker_id: 'worker-1' }, { projection: { _id: 0 } });
    expect(Object.keys(doc ?? {}).sort()).toEqual(
      ['worker_id', 'worker_ip', 'total_cpu', 'total_memory', 'total_storage', 'total_gpu', 'is_active', 'last_heartbeat', 'registered_at', 'updated_at'].sort(),
    );
  });

  it('issue refuses an unregistered worker and stores nothing', async () => {
    await expect(store.issue('ghost')).rejects.toBeInstanceOf(WorkerNotFoundError);
    expect(await store.get('ghost')).toBeNull();
  });

  it('issue replaces an earlier credential of the same worker', async () => {
    await registry.registerWorker('worker-1', '10.0.0.1');
    const first = await store.issue('worker-1');
    const second = await store.issue('worker-1');
    expect(second).not.toBe(first);
    expect(await t.db.collection(COLLECTIONS.credentials).countDocuments({})).toBe(1);
    const hash = await store.get('worker-1');
    expect(tokensMatch(second, hash ?? '')).toBe(true);
    expect(tokensMatch(first, hash ?? '')).toBe(false);
  });

  it('rotate issues a new token for a registered worker', async () => {
    await registry.registerWorker('worker-1', '10.0.0.1');
    const first = await store.issue('worker-1');
    const rotated = await store.rotate('worker-1');
    expect(tokensMatch(rotated, (await store.get('worker-1')) ?? '')).toBe(true);
    expect(tokensMatch(first, (await store.get('worker-1')) ?? '')).toBe(false);
  });

  it('rotate refuses an unknown worker and stores nothing', async () => {
    await expect(store.rotate('ghost')).rejects.toBeInstanceOf(WorkerNotFoundError);
    expect(await store.get('ghost')).toBeNull();
  });

  it('remove deletes the credential and says whether there was one', async () => {
    await registry.registerWorker('worker-1', '10.0.0.1');
    await store.issue('worker-1');
    expect(await store.remove('worker-1')).toBe(true);
    expect(await store.get('worker-1')).toBeNull();
    expect(await store.remove('worker-1')).toBe(false);
  });

  it('loadAll maps every worker to its hash and registration', async () => {
    await registry.registerWorker('a', '10.0.0.1');
    await registry.registerWorker('b', '10.0.0.2');
    const a = await store.issue('a');
    const b = await store.issue('b');
    const ids = await t.db.collection(COLLECTIONS.workers).find({}).toArray();
    const key = (id: string): string => registrationKey(ids.find((d) => d.worker_id === id)?._id);
    expect(await store.loadAll()).toEqual(
      new Map([
        ['a', { tokenHash: hashToken(a), registration: key('a') }],
        ['b', { tokenHash: hashToken(b), registration: key('b') }],
      ]),
    );
  });

  it('refuses invalid worker ids', async () => {
    await expect(store.issue('a$b')).rejects.toBeInstanceOf(InvalidWorkerIdError);
    await expect(store.get({ $ne: null } as unknown as string)).rejects.toBeInstanceOf(InvalidWorkerIdError);
  });
});
