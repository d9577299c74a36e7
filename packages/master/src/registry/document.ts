import { BSON, Double, Long, type Document } from 'mongodb';
import { toWorkerHardware } from './hardware-document.js';
import type { AdmissionEntry, Worker, WorkerSpecs } from './worker.js';

/**
 * The mapping between a Worker and its BSON document, in both directions.
 *
 * Writing: the contract fixes the BSON types. The driver would store a whole JS
 * number such as 8 as Int32, so specs are always wrapped in `Double` and
 * last_heartbeat in `Long`; nothing writes a bare number into these fields.
 *
 * Reading: documents may have been inserted by hand (mongosh stores 0 and 8 as
 * Int32, 8.5 as Double; a script may store last_heartbeat as Int32, Double or
 * Int64), so every numeric type is accepted and normalised to a JS number.
 */

export function specsToBson(specs: WorkerSpecs): Record<keyof WorkerSpecs, Double> {
  return {
    total_cpu: new Double(specs.total_cpu),
    total_memory: new Double(specs.total_memory),
    total_storage: new Double(specs.total_storage),
    total_gpu: new Double(specs.total_gpu),
  };
}

export function unixSecondsToBson(seconds: number): Long {
  return Long.fromNumber(seconds);
}

/** The contract's "Manual Registration" document: zero specs, inactive, never seen. */
export function newWorkerDocument(workerId: string, workerIp: string, now: Date): Document {
  return {
    worker_id: workerId,
    worker_ip: workerIp,
    ...specsToBson({ total_cpu: 0, total_memory: 0, total_storage: 0, total_gpu: 0 }),
    is_active: false,
    last_heartbeat: unixSecondsToBson(0),
    registered_at: now,
    updated_at: now,
  };
}

interface BsonNumberLike {
  _bsontype: string;
  toNumber?: () => number;
  valueOf?: () => unknown;
  toString(): string;
}

/**
 * Any BSON number as a JS number. Checks `_bsontype` rather than `instanceof`
 * so values decoded by another copy of the bson library are understood too.
 * A missing or non-numeric field reads as 0, the contract's initial value.
 */
export function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'object' && value !== null && '_bsontype' in value) {
    const bson = value as BsonNumberLike;
    switch (bson._bsontype) {
      case 'Long':
        return bson.toNumber?.() ?? Number(bson.toString());
      case 'Double':
      case 'Int32':
        return Number(bson.valueOf?.());
      case 'Decimal128':
        return Number(bson.toString());
      default:
        return 0;
    }
  }
  return 0;
}

function toDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(0);
}

function toStringField(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function toSpecs(doc: Document): WorkerSpecs {
  return {
    total_cpu: toNumber(doc.total_cpu),
    total_memory: toNumber(doc.total_memory),
    total_storage: toNumber(doc.total_storage),
    total_gpu: toNumber(doc.total_gpu),
  };
}

export function toWorker(doc: Document): Worker {
  const hardware = toWorkerHardware(doc.hardware);
  return {
    worker_id: toStringField(doc.worker_id),
    worker_ip: toStringField(doc.worker_ip),
    ...toSpecs(doc),
    is_active: doc.is_active === true,
    last_heartbeat: toNumber(doc.last_heartbeat),
    registered_at: toDate(doc.registered_at),
    updated_at: toDate(doc.updated_at),
    ...(hardware === null ? {} : { hardware }),
  };
}

export const ADMISSION_PROJECTION = {
  _id: 1,
  worker_id: 1,
  worker_ip: 1,
  total_cpu: 1,
  total_memory: 1,
  total_storage: 1,
  total_gpu: 1,
  // Only the digest of the inventory: the view compares it, and 10,000 inventories would be megabytes.
  'hardware.digest': 1,
} as const;

export function toAdmissionEntry(doc: Document): AdmissionEntry {
  const hardware: unknown = doc.hardware;
  const digest: unknown = typeof hardware === 'object' && hardware !== null ? (hardware as Document).digest : undefined;
  return {
    worker_id: toStringField(doc.worker_id),
    worker_ip: toStringField(doc.worker_ip),
    registration: registrationKey(doc._id),
    ...toSpecs(doc),
    ...(typeof digest === 'string' ? { hardwareDigest: digest } : {}),
  };
}

/**
 * A document's `_id` as a string that tells registrations apart: a document
 * deleted and inserted again (by hand) gets a new `_id`, whatever its other
 * fields say. Extended JSON keeps the BSON type (an ObjectId and its hex string differ).
 */
export function registrationKey(id: unknown): string {
  return BSON.EJSON.stringify({ id }, { relaxed: false });
}
