import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../../test/support/database.js';
import { COLLECTIONS } from './collections.js';
import { WorkerAlreadyRegisteredError } from '../errors.js';
import { createWorkerRegistry, type WorkerRegistry } from './worker-registry.js';

let t: TestDatabase;
let registry: WorkerRegistry;

beforeAll(async () => {
  t = await openTestDatabase('register_many');
  registry = createWorkerRegistry(t.db, { now: () => new Date('2026-01-01T00:00:00Z') });
  await registry.ensureCollections();
});

afterAll(async () => {
  await t.close();
});

describe('registerWorkers', () => {
  it('inserts the contract\'s initial document for each worker', async () => {
    const workers = await registry.registerWorkers([
      { worker_id: 'a-1', worker_ip: '10.1.0.1' },
      { worker_id: 'a-2', worker_ip: '10.1.0.2' },
    ]);
    expect(workers.map((w) => [w.worker_id, w.worker_ip, w.is_active, w.last_heartbeat])).toEqual([
      ['a-1', '10.1.0.1', false, 0],
      ['a-2', '10.1.0.2', false, 0],
    ]);
    // Each is a `registered` event of its worker's history, as `worker register ID IP` writes one.
    const events = await t.db.collection('WORKER_EVENTS').find({}, { projection: { _id: 0, worker_id: 1, kind: 1, detail: 1 } }).sort({ worker_id: 1 }).toArray();
    expect(events).toEqual([
      { worker_id: 'a-1', kind: 'registered', detail: { address: '10.1.0.1' } },
      { worker_id: 'a-2', kind: 'registered', detail: { address: '10.1.0.2' } },
    ]);
  });

  it('all or none: an id registered meanwhile undoes the ones inserted before it', async () => {
    // The CLI checks for existing ids first; this is the race after that check, decided by the unique index.
    await expect(
      registry.registerWorkers([
        { worker_id: 'b-1', worker_ip: '10.2.0.1' },
        { worker_id: 'a-2', worker_ip: '10.2.0.2' },
        { worker_id: 'b-3', worker_ip: '10.2.0.3' },
      ]),
    ).rejects.toThrow(WorkerAlreadyRegisteredError);
    const ids = (await t.db.collection(COLLECTIONS.workers).find({}).toArray()).map((d) => d.worker_id as string).sort();
    expect(ids).toEqual(['a-1', 'a-2']);
    const a2 = await registry.getWorker('a-2');
    expect(a2?.worker_ip).toBe('10.1.0.2');
    expect(await t.db.collection('WORKER_EVENTS').countDocuments({ worker_id: { $in: ['b-1', 'b-3'] } })).toBe(0);
  });
});
