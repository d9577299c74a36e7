import type { Db, Document } from 'mongodb';
import { COLLECTIONS } from '../collections.js';

/**
 * The BSON type of each field of a stored worker document, read with
 * promoteValues: false so the driver hands back Double, Int32 and Long as
 * themselves instead of turning them all into JS numbers.
 */
export type BsonTypeName = 'string' | 'boolean' | 'Date' | 'Double' | 'Int32' | 'Long' | 'ObjectId' | 'other';

export function bsonTypeOf(value: unknown): BsonTypeName {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'boolean';
  if (value instanceof Date) return 'Date';
  if (typeof value === 'object' && value !== null && '_bsontype' in value) {
    const type = (value as { _bsontype: string })._bsontype;
    if (type === 'Double' || type === 'Int32' || type === 'Long' || type === 'ObjectId') return type;
  }
  return 'other';
}

export async function rawWorkerTypes(db: Db, workerId: string): Promise<Record<string, BsonTypeName>> {
  const doc: Document | null = await db
    .collection(COLLECTIONS.workers)
    .findOne({ worker_id: workerId }, { promoteValues: false });
  if (doc === null) throw new Error(`no document for ${workerId}`);
  return Object.fromEntries(Object.entries(doc).map(([field, value]) => [field, bsonTypeOf(value)]));
}

/** The contract's types, field for field (plus the _id every document has). */
export const CONTRACT_TYPES: Record<string, BsonTypeName> = {
  _id: 'ObjectId',
  worker_id: 'string',
  worker_ip: 'string',
  total_cpu: 'Double',
  total_memory: 'Double',
  total_storage: 'Double',
  total_gpu: 'Double',
  is_active: 'boolean',
  last_heartbeat: 'Long',
  registered_at: 'Date',
  updated_at: 'Date',
};
