import { Long, type Db, type ObjectId } from 'mongodb';
import { COLLECTIONS, createAdmissionVersion, createWorkerRegistry, generateToken, hashToken, newWorkerDocument, specsToBson } from '../../../packages/master/dist/index.js';
import type { FleetSpecs } from './fleet-protocol.js';

export interface SeededWorker {
  workerId: string;
  token: string;
  _id: ObjectId;
}

/**
 * FerretDB 1.24 (SQLite) holds one pooled connection per statement of a
 * write command until the command ends; batches of 50 stay well under its
 * pool of 100 (docs/DESIGN.md, "Dev database").
 */
const BATCH = 50;

/**
 * Registers workers in bulk, as `cluster-master worker register` would one
 * by one: the contract's initial document (newWorkerDocument, the registry's
 * own mapping) plus a credential (token hash) per worker. Registering 10,000
 * through the CLI would take minutes; the documents are the same.
 *
 * With `knownSpecs`, the documents already hold those specs, as after an
 * earlier connection (inactive, last seen an hour ago): the fleet then
 * connects without spec writes, as it does after any restart. Without, each
 * first hello makes the master write that worker's specs.
 */
export async function seedWorkers(db: Db, ids: readonly string[], workerIp: string | ((workerId: string) => string), knownSpecs: FleetSpecs | undefined): Promise<SeededWorker[]> {
  await createWorkerRegistry(db).ensureCollections();
  const workers = db.collection(COLLECTIONS.workers);
  const credentials = db.collection(COLLECTIONS.credentials);
  const out: SeededWorker[] = [];
  for (let start = 0; start < ids.length; start += BATCH) {
    const now = new Date();
    const chunk = ids.slice(start, start + BATCH);
    const docs = chunk.map((id) => {
      const doc = newWorkerDocument(id, typeof workerIp === 'string' ? workerIp : workerIp(id), now);
      return knownSpecs === undefined ? doc : { ...doc, ...specsToBson(knownSpecs), last_heartbeat: Long.fromNumber(Math.floor(now.getTime() / 1000) - 3_600) };
    });
    const tokens = chunk.map(() => generateToken());
    // insertMany sets _id on the documents it is given: kept for the samplers' _id lookups.
    await workers.insertMany(docs);
    await credentials.insertMany(chunk.map((id, i) => ({ worker_id: id, token_hash: hashToken(tokens[i] ?? ''), created_at: now })));
    chunk.forEach((id, i) => out.push({ workerId: id, token: tokens[i] ?? '', _id: docs[i]?._id as ObjectId }));
  }
  // As registration and token issue do: masters see a new admission version (and may keep their view under it).
  await createAdmissionVersion(db).bump();
  return out;
}

export function workerIds(count: number): string[] {
  const width = String(Math.max(count - 1, 1)).length;
  return Array.from({ length: count }, (_, i) => `bench-${String(i).padStart(width, '0')}`);
}
