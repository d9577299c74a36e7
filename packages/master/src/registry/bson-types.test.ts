import { Double, ObjectId } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../../test/support/database.js';
import { COLLECTIONS } from './collections.js';
import { CONTRACT_TYPES, rawWorkerTypes } from './test-support/bson-types.js';
import { createWorkerRegistry, type WorkerRegistry } from './worker-registry.js';

/**
 * The contract fixes each field's BSON type (Float64 specs even when whole,
 * Int64 last_heartbeat). These tests read the stored documents raw, after
 * every kind of write, and compare field by field, so a write that lets the
 * driver store 8 as Int32 or a heartbeat as Double fails here.
 */
let t: TestDatabase;
let registry: WorkerRegistry;
const NOW = new Date('2025-10-15T10:35:00Z');

beforeEach(async () => {
  t = await openTestDatabase('bson');
  registry = createWorkerRegistry(t.db, { now: () => NOW });
  await registry.ensureCollections();
});

afterEach(async () => {
  await t.close();
});

const WHOLE_SPECS = { total_cpu: 8, total_memory: 16, total_storage: 500, total_gpu: 2 };

describe("every write leaves exactly the contract's fields and types", () => {
  const writes: [string, () => Promise<unknown>][] = [
    ['registerWorker', async () => {}],
    [
      'updateWorkerInfo (whole numbers)',
      () => registry.updateWorkerInfo({ worker_id: 'w', worker_ip: '10.0.0.2', ...WHOLE_SPECS, is_active: true, last_heartbeat: 1697371300 }),
    ],
    ['updateWorkerInfo (heartbeat 0)', () => registry.updateWorkerInfo({ worker_id: 'w', ...WHOLE_SPECS, is_active: false, last_heartbeat: 0 })],
    ['updateHeartbeat', () => registry.updateHeartbeat('w', 1697371305)],
    ['recordHeartbeats', () => registry.recordHeartbeats(['w'], 1697371310, NOW)],
    ['markInactive', async () => {
      await registry.updateHeartbeat('w', 1697371305);
      await registry.markInactive(['w'], NOW);
    }],
    ['sweepStale', async () => {
      await registry.updateHeartbeat('w', 5);
      expect(await registry.sweepStale(10, NOW)).toBe(1);
    }],
    ['updateSpecs', () => registry.updateSpecs([{ worker_id: 'w', total_cpu: 4, total_memory: 0, total_storage: 1, total_gpu: 0 }], NOW)],
  ];

  it.each(writes)('after %s', async (_name, write) => {
    await registry.registerWorker('w', '10.0.0.1');
    await write();
    expect(await rawWorkerTypes(t.db, 'w')).toEqual(CONTRACT_TYPES);
  });
});

describe('a document inserted by hand, typed the way mongosh types it', () => {
  const registeredAt = new Date('2025-10-15T10:30:00Z');

  beforeEach(async () => {
    // Plain JS numbers: the driver (like mongosh) stores 0, 8 and 500 as
    // Int32, 15.5 as Double; last_heartbeat as Int32 too.
    await t.db.collection(COLLECTIONS.workers).insertOne({
      _id: new ObjectId(),
      worker_id: 'worker-2',
      worker_ip: '192.168.1.100',
      total_cpu: 8,
      total_memory: 15.5,
      total_storage: 500,
      total_gpu: 2,
      is_active: true,
      last_heartbeat: 1697371,
      registered_at: registeredAt,
      updated_at: registeredAt,
    });
    await t.db.collection(COLLECTIONS.workers).insertOne({
      worker_id: 'worker-3',
      worker_ip: '192.168.1.101',
      total_cpu: 0,
      total_memory: 0,
      total_storage: 0,
      total_gpu: 0,
      is_active: false,
      last_heartbeat: new Double(0),
      registered_at: registeredAt,
      updated_at: registeredAt,
    });
  });

  it('really is stored with Int32 and Double (the premise of these tests)', async () => {
    expect(await rawWorkerTypes(t.db, 'worker-2')).toMatchObject({
      total_cpu: 'Int32',
      total_memory: 'Double',
      last_heartbeat: 'Int32',
    });
    expect(await rawWorkerTypes(t.db, 'worker-3')).toMatchObject({ total_gpu: 'Int32', last_heartbeat: 'Double' });
  });

  it('is read as plain numbers', async () => {
    expect(await registry.getWorker('worker-2')).toEqual({
      worker_id: 'worker-2',
      worker_ip: '192.168.1.100',
      total_cpu: 8,
      total_memory: 15.5,
      total_storage: 500,
      total_gpu: 2,
      is_active: true,
      last_heartbeat: 1697371,
      registered_at: registeredAt,
      updated_at: registeredAt,
    });
    expect((await registry.getWorker('worker-3'))?.last_heartbeat).toBe(0);
  });

  it('is listed and found by every query', async () => {
    expect((await registry.getAllWorkers()).map((w) => w.worker_id)).toEqual(['worker-2', 'worker-3']);
    expect((await registry.findGpuWorkers()).map((w) => w.worker_id)).toEqual(['worker-2']);
    expect((await registry.findByMinResources({ cpu: 4, memory: 8 })).map((w) => w.worker_id)).toEqual(['worker-2']);
    expect((await registry.findStale(1697372)).map((w) => w.worker_id)).toEqual(['worker-2']);
    expect((await registry.findByIp('192.168.1.101')).map((w) => w.worker_id)).toEqual(['worker-3']);
    expect(await registry.existingWorkerIds(['worker-2', 'worker-3'])).toEqual(new Set(['worker-2', 'worker-3']));
    expect(await registry.listAdmissionView()).toContainEqual({
      worker_id: 'worker-2',
      worker_ip: '192.168.1.100',
      registration: expect.any(String) as string,
      total_cpu: 8,
      total_memory: 15.5,
      total_storage: 500,
      total_gpu: 2,
    });
  });

  it("has its types corrected by updateWorkerInfo, keeping its ObjectId", async () => {
    const before = await t.db.collection(COLLECTIONS.workers).findOne({ worker_id: 'worker-2' });
    await registry.updateWorkerInfo({ worker_id: 'worker-2', ...WHOLE_SPECS, is_active: true, last_heartbeat: 1697371400 });
    expect(await rawWorkerTypes(t.db, 'worker-2')).toEqual(CONTRACT_TYPES);
    const after = await t.db.collection(COLLECTIONS.workers).findOne({ worker_id: 'worker-2' });
    expect(after?._id).toEqual(before?._id);
    expect(await registry.getWorker('worker-2')).toMatchObject({ ...WHOLE_SPECS, last_heartbeat: 1697371400, updated_at: NOW });
  });

  it('has its heartbeat type corrected by the master batch paths', async () => {
    await registry.recordHeartbeats(['worker-3'], 1697371500, NOW);
    expect((await rawWorkerTypes(t.db, 'worker-3')).last_heartbeat).toBe('Long');
    await registry.updateSpecs([{ worker_id: 'worker-3', ...WHOLE_SPECS }], NOW);
    expect(await rawWorkerTypes(t.db, 'worker-3')).toEqual(CONTRACT_TYPES);
  });

  it('is swept when stale although its heartbeat is Int32', async () => {
    expect(await registry.sweepStale(1697372, NOW)).toBe(1);
    expect((await registry.getWorker('worker-2'))?.is_active).toBe(false);
  });
});
