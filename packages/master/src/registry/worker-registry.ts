import type { Collection, Db, Document, Filter } from 'mongodb';
import { createAdmissionVersion } from './admission-version.js';
import { COLLECTIONS, SINGLE_BATCH_SIZE, ensureCollections, type EnsureReport } from './collections.js';
import {
  ADMISSION_PROJECTION,
  newWorkerDocument,
  specsToBson,
  toAdmissionEntry,
  toWorker,
  unixSecondsToBson,
} from './document.js';
import { describeHosts, guard, isDuplicateKeyError } from './driver-errors.js';
import { WorkerAlreadyRegisteredError, WorkerNotFoundError } from '../errors.js';
import { inactiveFilter } from './inactive-filter.js';
import { assertSpecs, assertUnixSeconds, assertWorkerAddress, assertWorkerId } from './validate.js';
import type {
  AdmissionEntry,
  Worker,
  WorkerFilter,
  WorkerInfoUpdate,
  WorkerSpecsEntry,
} from './worker.js';

export interface WorkerRegistry {
  /** WORKER_REGISTRY, USERS, TASKS, ASSIGNMENTS, RESULTS, WORKER_CREDENTIALS, REGISTRY_VERSION and their indexes; idempotent. */
  ensureCollections(): Promise<EnsureReport>;
  /** Inserts the contract's initial document. Concurrent registrations of one id: exactly one wins. */
  registerWorker(workerId: string, workerIp: string): Promise<Worker>;
  getWorker(workerId: string): Promise<Worker | null>;
  /** Sorted by worker_id. */
  getAllWorkers(): Promise<Worker[]>;
  /** The contract's "Update (Worker Info)": one updateOne, no upsert. */
  updateWorkerInfo(info: WorkerInfoUpdate): Promise<void>;
  /** The contract's "Update (Heartbeat)": one updateOne, no upsert. */
  updateHeartbeat(workerId: string, unixSeconds: number): Promise<void>;
  unregisterWorker(workerId: string): Promise<void>;
  workerExists(workerId: string): Promise<boolean>;

  findActive(): Promise<Worker[]>;
  findByIp(ip: string): Promise<Worker[]>;
  /** Active workers whose last heartbeat is before `cutoffUnixSeconds`. */
  findStale(cutoffUnixSeconds: number): Promise<Worker[]>;
  /** More than `cpu` cores and more than `memory` GiB ($gt, as the contract's example). */
  findByMinResources(minimum: { cpu?: number; memory?: number }): Promise<Worker[]>;
  findGpuWorkers(): Promise<Worker[]>;
  /** All given filters at once, in one query; sorted by worker_id. */
  findWorkers(filter: WorkerFilter): Promise<Worker[]>;

  // The master's paths. Each is exactly one database command (none for an
  // empty list), so database load does not grow with the number of workers.
  /** One updateMany: last_heartbeat, is_active: true, updated_at. Never upserts. */
  recordHeartbeats(workerIds: readonly string[], unixSeconds: number, now: Date): Promise<{ matched: number }>;
  /**
   * One updateMany on the given workers that are active now; returns how many
   * changed. `lastWritten`: the last_heartbeat (unix seconds) this master last
   * wrote for each worker; a worker whose document holds a newer one (another
   * master serves it now) is left alone. See inactiveFilter.
   */
  markInactive(workerIds: readonly string[], now: Date, lastWritten?: ReadonlyMap<string, number>): Promise<number>;
  /** One updateMany: active workers with last_heartbeat < cutoff become inactive; returns how many. */
  sweepStale(cutoffUnixSeconds: number, now: Date): Promise<number>;
  /**
   * A bulkWrite (no upsert) of one statement per distinct set of specs: an
   * updateOne for a worker alone with its specs, an updateMany ($in) for
   * several alike. One command for up to `maxUpdatesPerCommand` statements,
   * one more per further such chunk.
   */
  updateSpecs(entries: readonly WorkerSpecsEntry[], now: Date): Promise<void>;
  /** Which of these ids are registered: one find with a projection. */
  existingWorkerIds(workerIds: readonly string[]): Promise<Set<string>>;
  /** Every worker's id, address and specs: one find with a projection. */
  listAdmissionView(): Promise<AdmissionEntry[]>;
}

export interface WorkerRegistryOptions {
  /** Clock for registered_at/updated_at on the admin paths. */
  now?: () => Date;
  /** Names the database in DatabaseUnavailableError; default: the client's host list. */
  describeDatabase?: string;
  /**
   * Most update statements updateSpecs sends in one command (default 25).
   * FerretDB 1.24 (SQLite) keeps one pooled connection per statement open
   * until the command ends, and its pool holds 100: one update command with
   * 100 statements (or several concurrent ones adding up to that) hangs
   * forever. Real MongoDB takes 100,000; raise this when only it is used.
   */
  maxUpdatesPerCommand?: number;
}

export const DEFAULT_MAX_UPDATES_PER_COMMAND = 25;

const byWorkerId = (a: Worker, b: Worker): number =>
  a.worker_id < b.worker_id ? -1 : a.worker_id > b.worker_id ? 1 : 0;

function filterFor(filter: WorkerFilter): Filter<Document> {
  const query: Filter<Document> = {};
  if (filter.active !== undefined) query.is_active = filter.active;
  if (filter.ip !== undefined) query.worker_ip = String(filter.ip);
  if (filter.gpu === true) query.total_gpu = { $gt: 0 };
  if (filter.minCpu !== undefined) query.total_cpu = { $gt: Number(filter.minCpu) };
  if (filter.minMemory !== undefined) query.total_memory = { $gt: Number(filter.minMemory) };
  if (filter.staleBefore !== undefined) {
    // The contract's stale query: still flagged active, but silent since the cutoff.
    // Stale means active, so "inactive and stale" is a query that matches nothing.
    if (filter.active === false) return { _id: { $exists: false } };
    query.is_active = true;
    query.last_heartbeat = { $lt: Number(filter.staleBefore) };
  }
  return query;
}

/**
 * Entries with the same specs become one statement: a fleet of like machines
 * (a first connection, a driver update) costs one update per kind of machine,
 * not one per worker. On the dev database each statement reads the whole
 * collection, so 25 workers took 25 scans (8.6 s at 10,000 workers).
 * A worker listed twice keeps its last entry.
 */
function groupBySpecs(entries: readonly WorkerSpecsEntry[]): { specs: WorkerSpecsEntry; workerIds: string[] }[] {
  const last = new Map<string, WorkerSpecsEntry>();
  for (const entry of entries) {
    last.delete(entry.worker_id);
    last.set(entry.worker_id, entry);
  }
  const groups = new Map<string, { specs: WorkerSpecsEntry; workerIds: string[] }>();
  for (const entry of last.values()) {
    const key = [entry.total_cpu, entry.total_memory, entry.total_storage, entry.total_gpu].join('|');
    const group = groups.get(key);
    if (group === undefined) groups.set(key, { specs: entry, workerIds: [entry.worker_id] });
    else group.workerIds.push(entry.worker_id);
  }
  return [...groups.values()];
}

function assertWorkerIds(workerIds: readonly string[]): void {
  for (const workerId of workerIds) assertWorkerId(workerId);
}

export function createWorkerRegistry(db: Db, options: WorkerRegistryOptions = {}): WorkerRegistry {
  const clock = options.now ?? (() => new Date());
  const maxUpdatesPerCommand = Math.max(1, Math.floor(options.maxUpdatesPerCommand ?? DEFAULT_MAX_UPDATES_PER_COMMAND));
  const where = options.describeDatabase ?? describeHosts(db);
  const workers: Collection<Document> = db.collection(COLLECTIONS.workers);
  const run = <T>(operation: () => Promise<T>): Promise<T> => guard(where, operation);
  // Set anew after each admin write that changes what admission reads; best effort (see admission-version.ts).
  const version = createAdmissionVersion(db, { now: clock, describeDatabase: where });

  /**
   * The list queries read everything in the find's first batch, so no getMore
   * follows. FerretDB 1.x closes a cursor when the client connection that
   * opened it closes, and the driver may send the getMore on another pooled
   * connection: if the first one was closed meanwhile (idle pruning, a pool
   * cleared after a timeout under load), the getMore fails with CursorNotFound
   * or, racing the close, comes back empty with cursor id 0, and toArray()
   * returns the first 101 workers as if they were all (reproduced: 1 in 2,000
   * with maxIdleTimeMS 1). One batch is cut only by the 16 MiB reply limit
   * (tens of thousands of workers).
   */
  async function find(query: Filter<Document>): Promise<Worker[]> {
    const docs = await run(() => workers.find(query, { batchSize: SINGLE_BATCH_SIZE }).toArray());
    return docs.map(toWorker).sort(byWorkerId);
  }

  const registry: WorkerRegistry = {
    ensureCollections: () => run(() => ensureCollections(db)),

    async registerWorker(workerId, workerIp) {
      assertWorkerId(workerId);
      assertWorkerAddress(workerIp);
      const document = newWorkerDocument(workerId, workerIp, clock());
      try {
        // insertOne adds an _id to the object it is given; insert a copy.
        await run(() => workers.insertOne({ ...document }));
      } catch (error) {
        // The unique index on worker_id decides races: the loser gets 11000.
        if (isDuplicateKeyError(error)) throw new WorkerAlreadyRegisteredError(workerId);
        throw error;
      }
      await version.bump();
      return toWorker(document);
    },

    async getWorker(workerId) {
      assertWorkerId(workerId);
      const doc = await run(() => workers.findOne({ worker_id: workerId }));
      return doc === null ? null : toWorker(doc);
    },

    getAllWorkers: () => find({}),

    async updateWorkerInfo(info) {
      assertWorkerId(info.worker_id);
      if (info.worker_ip !== undefined) assertWorkerAddress(info.worker_ip);
      assertSpecs(info);
      assertUnixSeconds(info.last_heartbeat);
      const set: Document = {
        ...(info.worker_ip !== undefined ? { worker_ip: info.worker_ip } : {}),
        ...specsToBson(info),
        is_active: info.is_active === true,
        last_heartbeat: unixSecondsToBson(info.last_heartbeat),
        updated_at: clock(),
      };
      const result = await run(() => workers.updateOne({ worker_id: info.worker_id }, { $set: set }));
      if (result.matchedCount === 0) throw new WorkerNotFoundError(info.worker_id);
      await version.bump();
    },

    async updateHeartbeat(workerId, unixSeconds) {
      assertWorkerId(workerId);
      assertUnixSeconds(unixSeconds);
      const result = await run(() =>
        workers.updateOne(
          { worker_id: workerId },
          { $set: { last_heartbeat: unixSecondsToBson(unixSeconds), is_active: true, updated_at: clock() } },
        ),
      );
      if (result.matchedCount === 0) throw new WorkerNotFoundError(workerId);
    },

    async unregisterWorker(workerId) {
      assertWorkerId(workerId);
      const result = await run(() => workers.deleteOne({ worker_id: workerId }));
      if (result.deletedCount === 0) throw new WorkerNotFoundError(workerId);
      await version.bump();
    },

    async workerExists(workerId) {
      assertWorkerId(workerId);
      return (await run(() => workers.countDocuments({ worker_id: workerId }))) > 0;
    },

    findActive: () => find(filterFor({ active: true })),
    findByIp: (ip) => find(filterFor({ ip })),
    findStale: (cutoffUnixSeconds) => find(filterFor({ staleBefore: cutoffUnixSeconds })),
    findByMinResources: ({ cpu, memory }) => find(filterFor({ minCpu: cpu, minMemory: memory })),
    findGpuWorkers: () => find(filterFor({ gpu: true })),
    findWorkers: (filter) => find(filterFor(filter)),

    async recordHeartbeats(workerIds, unixSeconds, now) {
      assertWorkerIds(workerIds);
      assertUnixSeconds(unixSeconds);
      if (workerIds.length === 0) return { matched: 0 };
      const result = await run(() =>
        workers.updateMany(
          { worker_id: { $in: [...new Set(workerIds)] } },
          { $set: { last_heartbeat: unixSecondsToBson(unixSeconds), is_active: true, updated_at: now } },
        ),
      );
      return { matched: result.matchedCount };
    },

    async markInactive(workerIds, now, lastWritten) {
      assertWorkerIds(workerIds);
      for (const id of workerIds) {
        const second = lastWritten?.get(id);
        if (second !== undefined) assertUnixSeconds(second);
      }
      if (workerIds.length === 0) return 0;
      const result = await run(() =>
        workers.updateMany(inactiveFilter(workerIds, lastWritten), { $set: { is_active: false, updated_at: now } }),
      );
      return result.modifiedCount;
    },

    async sweepStale(cutoffUnixSeconds, now) {
      assertUnixSeconds(cutoffUnixSeconds, 'cutoff');
      const result = await run(() =>
        workers.updateMany(filterFor({ staleBefore: cutoffUnixSeconds }), {
          $set: { is_active: false, updated_at: now },
        }),
      );
      return result.modifiedCount;
    },

    async updateSpecs(entries, now) {
      for (const entry of entries) {
        assertWorkerId(entry.worker_id);
        assertSpecs(entry);
      }
      const statements = groupBySpecs(entries).map(({ specs, workerIds }) => {
        const update = { $set: { ...specsToBson(specs), updated_at: now } };
        return workerIds.length === 1
          ? { updateOne: { filter: { worker_id: workerIds[0] }, update } }
          : { updateMany: { filter: { worker_id: { $in: workerIds } }, update } };
      });
      for (let start = 0; start < statements.length; start += maxUpdatesPerCommand) {
        const chunk = statements.slice(start, start + maxUpdatesPerCommand);
        // Independent updates: one failing must not stop the others
        // (FerretDB ignores this and applies them in order anyway).
        await run(() => workers.bulkWrite(chunk, { ordered: false }));
      }
    },

    async existingWorkerIds(workerIds) {
      assertWorkerIds(workerIds);
      if (workerIds.length === 0) return new Set();
      const docs = await run(() =>
        workers
          .find({ worker_id: { $in: [...workerIds] } }, { projection: { _id: 0, worker_id: 1 }, batchSize: SINGLE_BATCH_SIZE })
          .toArray(),
      );
      return new Set(docs.map((doc) => String(doc.worker_id)));
    },

    async listAdmissionView() {
      const docs = await run(() =>
        workers.find({}, { projection: ADMISSION_PROJECTION, batchSize: SINGLE_BATCH_SIZE }).toArray(),
      );
      return docs.map(toAdmissionEntry);
    },
  };
  return registry;
}
