import { Decimal128, Double, Int32, Long, ObjectId } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { newWorkerDocument, registrationKey, specsToBson, toAdmissionEntry, toNumber, toWorker, unixSecondsToBson } from './document.js';
import { bsonTypeOf } from './test-support/bson-types.js';

describe('writing', () => {
  it('wraps every spec in Double, also whole numbers the driver would store as Int32', () => {
    const bson = specsToBson({ total_cpu: 8, total_memory: 16, total_storage: 500, total_gpu: 0 });
    for (const value of Object.values(bson)) expect(bsonTypeOf(value)).toBe('Double');
    expect(bson.total_cpu.value).toBe(8);
  });

  it('writes last_heartbeat as Long', () => {
    const long = unixSecondsToBson(1697371234);
    expect(bsonTypeOf(long)).toBe('Long');
    expect(long.toNumber()).toBe(1697371234);
  });

  it("builds the contract's registration document", () => {
    const now = new Date('2025-10-15T10:30:00Z');
    const doc = newWorkerDocument('worker-2', '192.168.1.100', now);
    expect(Object.keys(doc).sort()).toEqual(
      [
        'worker_id',
        'worker_ip',
        'total_cpu',
        'total_memory',
        'total_storage',
        'total_gpu',
        'is_active',
        'last_heartbeat',
        'registered_at',
        'updated_at',
      ].sort(),
    );
    expect(toWorker(doc)).toEqual({
      worker_id: 'worker-2',
      worker_ip: '192.168.1.100',
      total_cpu: 0,
      total_memory: 0,
      total_storage: 0,
      total_gpu: 0,
      is_active: false,
      last_heartbeat: 0,
      registered_at: now,
      updated_at: now,
    });
  });
});

describe('reading', () => {
  it.each([
    [8, 8],
    [new Int32(8), 8],
    [new Double(8.5), 8.5],
    [Long.fromNumber(1697371234), 1697371234],
    [1697371234n, 1697371234],
    [Decimal128.fromString('2.5'), 2.5],
  ])('reads %o as %d', (value, expected) => {
    expect(toNumber(value)).toBe(expected);
  });

  it.each([undefined, null, 'eight', true, new ObjectId()])('reads a missing or odd value %o as 0', (value) => {
    expect(toNumber(value)).toBe(0);
  });

  it('normalises a document typed the way mongosh types it', () => {
    const registeredAt = new Date('2025-10-15T10:30:00Z');
    const worker = toWorker({
      _id: new ObjectId(),
      worker_id: 'worker-2',
      worker_ip: '192.168.1.100',
      total_cpu: new Int32(8),
      total_memory: new Double(15.5),
      total_storage: new Int32(500),
      total_gpu: new Int32(0),
      is_active: true,
      last_heartbeat: new Int32(1697371),
      registered_at: registeredAt,
      updated_at: registeredAt,
    });
    expect(worker).toEqual({
      worker_id: 'worker-2',
      worker_ip: '192.168.1.100',
      total_cpu: 8,
      total_memory: 15.5,
      total_storage: 500,
      total_gpu: 0,
      is_active: true,
      last_heartbeat: 1697371,
      registered_at: registeredAt,
      updated_at: registeredAt,
    });
    expect(worker).not.toHaveProperty('_id');
  });

  it("fills a hand-made document's missing fields with the contract's initial values", () => {
    const worker = toWorker({ worker_id: 'bare' });
    expect(worker).toMatchObject({ worker_ip: '', total_cpu: 0, total_gpu: 0, is_active: false, last_heartbeat: 0 });
    expect(worker.registered_at.getTime()).toBe(0);
  });

  it('treats only a real true as active', () => {
    expect(toWorker({ worker_id: 'w', is_active: 'true' }).is_active).toBe(false);
    expect(toWorker({ worker_id: 'w', is_active: 1 }).is_active).toBe(false);
  });

  it('reads an admission entry', () => {
    expect(
      toAdmissionEntry({ _id: 7, worker_id: 'w', worker_ip: '10.0.0.1', total_cpu: new Int32(4), total_memory: 8, total_storage: 1, total_gpu: 0 }),
    ).toEqual({ worker_id: 'w', worker_ip: '10.0.0.1', registration: registrationKey(7), total_cpu: 4, total_memory: 8, total_storage: 1, total_gpu: 0 });
  });

  it('tells registrations apart by _id and its BSON type', () => {
    const id = new ObjectId();
    expect(registrationKey(id)).toBe(registrationKey(new ObjectId(id.toHexString())));
    expect(registrationKey(id)).not.toBe(registrationKey(new ObjectId()));
    expect(registrationKey(id)).not.toBe(registrationKey(id.toHexString()));
    expect(registrationKey(new Int32(7))).not.toBe(registrationKey('7'));
  });
});
