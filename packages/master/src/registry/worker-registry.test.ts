import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../../test/support/database.js';
import { WORKER_EVENTS_COLLECTION } from '../history/worker-event.js';
import { COLLECTIONS } from './collections.js';
import {
  InvalidWorkerAddressError,
  InvalidWorkerDataError,
  InvalidWorkerIdError,
  WorkerAlreadyRegisteredError,
  WorkerNotFoundError,
} from '../errors.js';
import { INVALID_WORKER_IDS } from './test-support/invalid-ids.js';
import { createWorkerRegistry, type WorkerRegistry } from './worker-registry.js';
import type { WorkerSpecs } from './worker.js';

const REGISTERED_AT = new Date('2025-10-15T10:30:00Z');
const LATER = new Date('2025-10-15T10:32:15Z');
const SPECS: WorkerSpecs = { total_cpu: 8, total_memory: 16, total_storage: 500, total_gpu: 1 };

let t: TestDatabase;
let clock: Date;
let registry: WorkerRegistry;

const countDocs = () => t.db.collection(COLLECTIONS.workers).countDocuments({});

beforeEach(async () => {
  t = await openTestDatabase('registry');
  clock = REGISTERED_AT;
  registry = createWorkerRegistry(t.db, { now: () => clock });
  await registry.ensureCollections();
});

afterEach(async () => {
  await t.close();
});

/** Registers and connects a worker as the master would: specs, active, a heartbeat. */
async function connected(workerId: string, lastHeartbeat: number, specs: WorkerSpecs = SPECS, ip = '10.0.0.1') {
  await registry.registerWorker(workerId, ip);
  await registry.updateWorkerInfo({ worker_id: workerId, ...specs, is_active: true, last_heartbeat: lastHeartbeat });
}

describe('registerWorker', () => {
  it("stores the contract's initial values and returns them", async () => {
    const worker = await registry.registerWorker('worker-2', '192.168.1.100');
    const expected = {
      worker_id: 'worker-2',
      worker_ip: '192.168.1.100',
      total_cpu: 0,
      total_memory: 0,
      total_storage: 0,
      total_gpu: 0,
      is_active: false,
      last_heartbeat: 0,
      registered_at: REGISTERED_AT,
      updated_at: REGISTERED_AT,
    };
    expect(worker).toEqual(expected);
    expect(await registry.getWorker('worker-2')).toEqual(expected);
  });

  it('accepts IPv6 addresses and host names', async () => {
    await registry.registerWorker('v6', '2001:db8::42');
    await registry.registerWorker('named', 'node7.rack3.example.com');
    expect((await registry.getWorker('v6'))?.worker_ip).toBe('2001:db8::42');
    expect((await registry.getWorker('named'))?.worker_ip).toBe('node7.rack3.example.com');
  });

  it('refuses a second registration of the same id', async () => {
    await registry.registerWorker('worker-1', '10.0.0.1');
    const error = await registry.registerWorker('worker-1', '10.0.0.2').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerAlreadyRegisteredError);
    expect((error as WorkerAlreadyRegisteredError).code).toBe('WORKER_ALREADY_REGISTERED');
    expect((await registry.getWorker('worker-1'))?.worker_ip).toBe('10.0.0.1');
  });

  it('lets exactly one of two concurrent registrations of one id win', async () => {
    const results = await Promise.allSettled([
      registry.registerWorker('race', '10.0.0.1'),
      registry.registerWorker('race', '10.0.0.2'),
    ]);
    const fulfilled = results.filter((r) => r.status === 'fulfilled');
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.reason).toBeInstanceOf(WorkerAlreadyRegisteredError);
    expect(await t.db.collection(COLLECTIONS.workers).countDocuments({ worker_id: 'race' })).toBe(1);
  });

  it.each(INVALID_WORKER_IDS.map((id) => [id]))('refuses the id %j and stores nothing', async (id) => {
    await expect(registry.registerWorker(id as string, '10.0.0.1')).rejects.toBeInstanceOf(InvalidWorkerIdError);
    expect(await countDocs()).toBe(0);
  });

  it.each(['', '300.1.1.1', 'host:8080', 'not a host', '{"$gt":""}'])(
    'refuses the address %j and stores nothing',
    async (address) => {
      await expect(registry.registerWorker('worker-1', address)).rejects.toBeInstanceOf(InvalidWorkerAddressError);
      expect(await countDocs()).toBe(0);
    },
  );
});

describe('reads', () => {
  it('getWorker returns null for an unknown worker', async () => {
    expect(await registry.getWorker('nobody')).toBeNull();
  });

  it('getWorker refuses an operator object instead of querying with it', async () => {
    await registry.registerWorker('worker-1', '10.0.0.1');
    await expect(registry.getWorker({ $gt: '' } as unknown as string)).rejects.toBeInstanceOf(InvalidWorkerIdError);
  });

  it('getAllWorkers returns every worker, sorted by id', async () => {
    for (const id of ['b', 'c', 'a']) await registry.registerWorker(id, '10.0.0.1');
    expect((await registry.getAllWorkers()).map((w) => w.worker_id)).toEqual(['a', 'b', 'c']);
  });

  it('workerExists says whether the id is registered', async () => {
    await registry.registerWorker('worker-1', '10.0.0.1');
    expect(await registry.workerExists('worker-1')).toBe(true);
    expect(await registry.workerExists('worker-2')).toBe(false);
  });
});

describe('updateWorkerInfo', () => {
  it('sets specs, activity, heartbeat, address and updated_at; keeps registered_at', async () => {
    await registry.registerWorker('worker-2', '192.168.1.100');
    clock = LATER;
    await registry.updateWorkerInfo({
      worker_id: 'worker-2',
      worker_ip: '192.168.1.101',
      total_cpu: 8,
      total_memory: 15.6,
      total_storage: 500,
      total_gpu: 1,
      is_active: true,
      last_heartbeat: 1697371300,
    });
    expect(await registry.getWorker('worker-2')).toEqual({
      worker_id: 'worker-2',
      worker_ip: '192.168.1.101',
      total_cpu: 8,
      total_memory: 15.6,
      total_storage: 500,
      total_gpu: 1,
      is_active: true,
      last_heartbeat: 1697371300,
      registered_at: REGISTERED_AT,
      updated_at: LATER,
    });
  });

  it('records address_changed (from → to) when it changes worker_ip, as updateWorkerIp does; nothing when the address stays', async () => {
    await registry.registerWorker('worker-2', '192.168.1.100');
    const base = { worker_id: 'worker-2', ...SPECS, is_active: true, last_heartbeat: 1697371300 };
    await registry.updateWorkerInfo({ ...base, worker_ip: '192.168.1.100' });
    await registry.updateWorkerInfo(base);
    clock = LATER;
    await registry.updateWorkerInfo({ ...base, worker_ip: '192.168.1.101' });
    const events = await t.db.collection(WORKER_EVENTS_COLLECTION).find({ worker_id: 'worker-2', kind: 'address_changed' }).toArray();
    expect(events.map((e) => ({ detail: e.detail as unknown, at: e.at as unknown }))).toEqual([
      { detail: { from: '192.168.1.100', to: '192.168.1.101' }, at: LATER },
    ]);
  });

  it('keeps worker_ip when none is given', async () => {
    await connected('worker-1', 100);
    expect((await registry.getWorker('worker-1'))?.worker_ip).toBe('10.0.0.1');
  });

  it('throws WorkerNotFoundError for an unknown worker and creates nothing', async () => {
    const error = await registry
      .updateWorkerInfo({ worker_id: 'ghost', ...SPECS, is_active: true, last_heartbeat: 1 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerNotFoundError);
    expect((error as WorkerNotFoundError).code).toBe('WORKER_NOT_FOUND');
    expect(await countDocs()).toBe(0);
  });

  it('refuses impossible values before writing', async () => {
    await registry.registerWorker('worker-1', '10.0.0.1');
    const base = { worker_id: 'worker-1', ...SPECS, is_active: true, last_heartbeat: 1 };
    await expect(registry.updateWorkerInfo({ ...base, total_cpu: -1 })).rejects.toBeInstanceOf(InvalidWorkerDataError);
    await expect(registry.updateWorkerInfo({ ...base, last_heartbeat: 1.5 })).rejects.toBeInstanceOf(
      InvalidWorkerDataError,
    );
    await expect(registry.updateWorkerInfo({ ...base, worker_ip: 'bad ip' })).rejects.toBeInstanceOf(
      InvalidWorkerAddressError,
    );
    expect((await registry.getWorker('worker-1'))?.total_cpu).toBe(0);
  });
});

describe('updateHeartbeat', () => {
  it('sets last_heartbeat, is_active and updated_at', async () => {
    await registry.registerWorker('worker-1', '10.0.0.1');
    clock = LATER;
    await registry.updateHeartbeat('worker-1', 1697371305);
    expect(await registry.getWorker('worker-1')).toMatchObject({
      is_active: true,
      last_heartbeat: 1697371305,
      updated_at: LATER,
      registered_at: REGISTERED_AT,
      total_cpu: 0,
    });
  });

  it('throws WorkerNotFoundError for an unknown worker and creates nothing', async () => {
    await expect(registry.updateHeartbeat('ghost', 1697371305)).rejects.toBeInstanceOf(WorkerNotFoundError);
    expect(await countDocs()).toBe(0);
  });
});

describe('unregisterWorker', () => {
  it('deletes the document', async () => {
    await registry.registerWorker('worker-1', '10.0.0.1');
    await registry.registerWorker('worker-2', '10.0.0.2');
    await registry.unregisterWorker('worker-1');
    expect(await registry.getWorker('worker-1')).toBeNull();
    expect(await registry.workerExists('worker-2')).toBe(true);
  });

  it('throws WorkerNotFoundError when there is nothing to delete', async () => {
    await expect(registry.unregisterWorker('ghost')).rejects.toBeInstanceOf(WorkerNotFoundError);
  });
});

describe('a deleted worker stays deleted: no agent-facing write upserts', () => {
  beforeEach(async () => {
    await connected('gone', 100);
    await registry.unregisterWorker('gone');
  });

  it('updateWorkerInfo', async () => {
    await expect(
      registry.updateWorkerInfo({ worker_id: 'gone', ...SPECS, is_active: true, last_heartbeat: 200 }),
    ).rejects.toBeInstanceOf(WorkerNotFoundError);
    expect(await countDocs()).toBe(0);
  });

  it('updateHeartbeat', async () => {
    await expect(registry.updateHeartbeat('gone', 200)).rejects.toBeInstanceOf(WorkerNotFoundError);
    expect(await countDocs()).toBe(0);
  });

  it('recordHeartbeats', async () => {
    expect(await registry.recordHeartbeats(['gone'], 200, LATER)).toEqual({ matched: 0 });
    expect(await countDocs()).toBe(0);
  });

  it('markInactive', async () => {
    expect(await registry.markInactive(['gone'], LATER)).toBe(0);
    expect(await countDocs()).toBe(0);
  });

  it('updateSpecs', async () => {
    await registry.updateSpecs([{ worker_id: 'gone', ...SPECS }], LATER);
    expect(await countDocs()).toBe(0);
  });
});

describe("the contract's example queries", () => {
  beforeEach(async () => {
    // small: 4 cores, 8 GiB (not "more than" either); big: GPUs; idle: never connected.
    await connected('small', 1000, { total_cpu: 4, total_memory: 8, total_storage: 100, total_gpu: 0 }, '10.0.0.1');
    await connected('big', 2000, { total_cpu: 32, total_memory: 128, total_storage: 2000, total_gpu: 2 }, '10.0.0.2');
    await connected('mid', 1500, { total_cpu: 8, total_memory: 8.5, total_storage: 500, total_gpu: 0 }, '10.0.0.1');
    await registry.registerWorker('idle', '10.0.0.3');
  });

  const ids = (workers: { worker_id: string }[]) => workers.map((w) => w.worker_id);

  it('findActive', async () => {
    expect(ids(await registry.findActive())).toEqual(['big', 'mid', 'small']);
  });

  it('findByIp', async () => {
    expect(ids(await registry.findByIp('10.0.0.1'))).toEqual(['mid', 'small']);
    expect(await registry.findByIp('10.9.9.9')).toEqual([]);
  });

  it('findStale: active and last heartbeat strictly before the cutoff', async () => {
    expect(ids(await registry.findStale(1500))).toEqual(['small']);
    expect(ids(await registry.findStale(2001))).toEqual(['big', 'mid', 'small']);
    // idle has last_heartbeat 0 but is inactive, so it is never stale.
  });

  it('findByMinResources uses $gt, as the contract does', async () => {
    expect(ids(await registry.findByMinResources({ cpu: 4, memory: 8 }))).toEqual(['big', 'mid']);
    expect(ids(await registry.findByMinResources({ cpu: 8 }))).toEqual(['big']);
    expect(ids(await registry.findByMinResources({ memory: 100 }))).toEqual(['big']);
  });

  it('findGpuWorkers', async () => {
    expect(ids(await registry.findGpuWorkers())).toEqual(['big']);
  });

  it('findWorkers combines filters', async () => {
    expect(ids(await registry.findWorkers({}))).toEqual(['big', 'idle', 'mid', 'small']);
    expect(ids(await registry.findWorkers({ active: false }))).toEqual(['idle']);
    expect(ids(await registry.findWorkers({ ip: '10.0.0.1', minCpu: 4 }))).toEqual(['mid', 'small']);
    expect(ids(await registry.findWorkers({ active: true, gpu: true, minMemory: 64 }))).toEqual(['big']);
    expect(ids(await registry.findWorkers({ staleBefore: 1600, ip: '10.0.0.1' }))).toEqual(['mid', 'small']);
    expect(await registry.findWorkers({ staleBefore: 5000, active: false })).toEqual([]);
  });
});

describe("the master's batch operations", () => {
  it('recordHeartbeats sets last_heartbeat, is_active and updated_at on the known ids only', async () => {
    await registry.registerWorker('a', '10.0.0.1');
    await registry.registerWorker('b', '10.0.0.2');
    await registry.registerWorker('c', '10.0.0.3');
    expect(await registry.recordHeartbeats(['a', 'b', 'b', 'unknown'], 1697371305, LATER)).toEqual({ matched: 2 });
    expect(await registry.getWorker('a')).toMatchObject({ is_active: true, last_heartbeat: 1697371305, updated_at: LATER });
    expect(await registry.getWorker('c')).toMatchObject({ is_active: false, last_heartbeat: 0 });
    expect(await countDocs()).toBe(3);
  });

  it('recordHeartbeats with no ids does nothing', async () => {
    expect(await registry.recordHeartbeats([], 1, LATER)).toEqual({ matched: 0 });
  });

  it('recordHeartbeats refuses an invalid id before writing', async () => {
    await registry.registerWorker('a', '10.0.0.1');
    await expect(registry.recordHeartbeats(['a', 'a$b'], 1, LATER)).rejects.toBeInstanceOf(InvalidWorkerIdError);
    expect((await registry.getWorker('a'))?.last_heartbeat).toBe(0);
  });

  it('markInactive changes only workers that are active and counts them', async () => {
    await connected('a', 100);
    await connected('b', 100);
    await registry.registerWorker('idle', '10.0.0.1');
    clock = REGISTERED_AT;
    expect(await registry.markInactive(['a', 'idle', 'unknown'], LATER)).toBe(1);
    expect(await registry.getWorker('a')).toMatchObject({ is_active: false, last_heartbeat: 100, updated_at: LATER });
    // An inactive worker is not touched, so its updated_at stays.
    expect((await registry.getWorker('idle'))?.updated_at).toEqual(REGISTERED_AT);
    expect((await registry.getWorker('b'))?.is_active).toBe(true);
    expect(await registry.markInactive([], LATER)).toBe(0);
  });

  it('markInactive with lastWritten leaves a worker whose heartbeat is newer than that (another master serves it)', async () => {
    await connected('moved', 200);
    await connected('same', 100);
    await connected('older', 90);
    await connected('unknown-to-us', 500);
    const lastWritten = new Map([['moved', 100], ['same', 100], ['older', 95]]);
    expect(await registry.markInactive(['moved', 'same', 'older', 'unknown-to-us'], LATER, lastWritten)).toBe(3);
    expect(await registry.getWorker('moved')).toMatchObject({ is_active: true, last_heartbeat: 200 });
    for (const id of ['same', 'older', 'unknown-to-us']) expect((await registry.getWorker(id))?.is_active, id).toBe(false);
  });

  it('markInactive refuses a lastWritten that is not unix seconds, and writes nothing', async () => {
    await connected('a', 100);
    await expect(registry.markInactive(['a'], LATER, new Map([['a', -1]]))).rejects.toThrow(InvalidWorkerDataError);
    expect((await registry.getWorker('a'))?.is_active).toBe(true);
  });

  it('sweepStale marks active workers silent since before the cutoff inactive', async () => {
    await connected('old', 1000);
    await connected('edge', 1500);
    await connected('fresh', 2000);
    await registry.registerWorker('idle', '10.0.0.1');
    expect(await registry.sweepStale(1500, LATER)).toBe(1);
    expect(await registry.getWorker('old')).toMatchObject({ is_active: false, last_heartbeat: 1000, updated_at: LATER });
    expect((await registry.getWorker('edge'))?.is_active).toBe(true);
    expect((await registry.getWorker('idle'))?.updated_at).toEqual(REGISTERED_AT);
    expect(await registry.sweepStale(1500, LATER)).toBe(0);
  });

  it('updateSpecs writes each entry in one go and ignores unknown ids', async () => {
    await registry.registerWorker('a', '10.0.0.1');
    await registry.registerWorker('b', '10.0.0.2');
    await registry.updateSpecs(
      [
        { worker_id: 'a', total_cpu: 4, total_memory: 7.5, total_storage: 250, total_gpu: 0 },
        { worker_id: 'unknown', ...SPECS },
        { worker_id: 'b', ...SPECS },
      ],
      LATER,
    );
    expect(await registry.getWorker('a')).toMatchObject({ total_cpu: 4, total_memory: 7.5, updated_at: LATER, is_active: false });
    expect(await registry.getWorker('b')).toMatchObject(SPECS);
    expect(await countDocs()).toBe(2);
  });

  it('updateSpecs leaves a document that already holds these specs untouched (updated_at too)', async () => {
    await registry.registerWorker('a', '10.0.0.1');
    await registry.updateSpecs([{ worker_id: 'a', ...SPECS }], REGISTERED_AT);
    await registry.updateSpecs([{ worker_id: 'a', ...SPECS }], LATER);
    expect(await registry.getWorker('a')).toMatchObject({ ...SPECS, updated_at: REGISTERED_AT });
  });

  it('updateSpecs with no entries does nothing', async () => {
    await expect(registry.updateSpecs([], LATER)).resolves.toBe(0); // no command, nothing changed
  });

  it('existingWorkerIds returns the registered subset', async () => {
    await registry.registerWorker('a', '10.0.0.1');
    await registry.registerWorker('b', '10.0.0.2');
    expect(await registry.existingWorkerIds(['a', 'x', 'b', 'a'])).toEqual(new Set(['a', 'b']));
    expect(await registry.existingWorkerIds([])).toEqual(new Set());
  });

  it('listAdmissionView returns id, address and specs of every worker', async () => {
    await connected('a', 100, SPECS, '10.0.0.1');
    await registry.registerWorker('b', 'node-b.example');
    const view = await registry.listAdmissionView();
    expect(view.sort((x, y) => x.worker_id.localeCompare(y.worker_id))).toEqual([
      { worker_id: 'a', worker_ip: '10.0.0.1', registration: expect.stringContaining('$oid') as string, ...SPECS },
      { worker_id: 'b', worker_ip: 'node-b.example', registration: expect.stringContaining('$oid') as string, total_cpu: 0, total_memory: 0, total_storage: 0, total_gpu: 0 },
    ]);
  });
});
