import { ObjectId, type Document } from 'mongodb';
import { WorkerAlreadyRegisteredError, WorkerNotFoundError } from '../errors.js';
import { recordAdminEvent, recordAdminEvents } from '../history/admin-events.js';
import { ensureCollections } from './collections.js';
import { newWorkerDocument, specsToBson, toWorker, unixSecondsToBson } from './document.js';
import { isDuplicateKeyError } from './driver-errors.js';
import { assertSpecs, assertUnixSeconds, assertWorkerAddress, assertWorkerId } from './validate.js';
import type { RegistryContext, WorkerRegistry } from './worker-registry-types.js';

/** The admin paths (the CLI's): registration, updates, lookups of one worker. */
export type AdminOperations = Pick<
  WorkerRegistry,
  'ensureCollections' | 'registerWorker' | 'registerWorkers' | 'getWorker' | 'updateWorkerInfo' | 'updateWorkerIp' | 'updateHeartbeat' | 'unregisterWorker' | 'workerExists'
>;

export function adminOperations(context: RegistryContext): AdminOperations {
  const { db, workers, run, clock, version } = context;
  return {
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
      await recordAdminEvent(db, { workerId, kind: 'registered', detail: { address: workerIp }, at: document.registered_at as Date });
      return toWorker(document);
    },

    async registerWorkers(entries) {
      for (const e of entries) {
        assertWorkerId(e.worker_id);
        assertWorkerAddress(e.worker_ip);
      }
      if (entries.length === 0) return [];
      const now = clock();
      // Our own _ids, so that a failed insert is undone by deleting exactly what this call inserted.
      const documents = entries.map((e) => ({ _id: new ObjectId(), ...newWorkerDocument(e.worker_id, e.worker_ip, now) }));
      try {
        await run(() => workers.insertMany(documents.map((d) => ({ ...d })), { ordered: true }));
      } catch (error) {
        await run(() => workers.deleteMany({ _id: { $in: documents.map((d) => d._id) } }));
        if (isDuplicateKeyError(error)) {
          const existing = await run(() => workers.find({ worker_id: { $in: entries.map((e) => e.worker_id) } }, { projection: { worker_id: 1 } }).toArray());
          throw new WorkerAlreadyRegisteredError(String(existing[0]?.worker_id ?? entries[0]?.worker_id));
        }
        throw error;
      }
      await version.bump();
      await recordAdminEvents(db, entries.map((e) => ({ workerId: e.worker_id, kind: 'registered', detail: { address: e.worker_ip }, at: now })));
      return documents.map((d) => toWorker(d));
    },

    async getWorker(workerId) {
      assertWorkerId(workerId);
      const doc = await run(() => workers.findOne({ worker_id: workerId }));
      return doc === null ? null : toWorker(doc);
    },


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
      // The document before the write: an address change is history, as with updateWorkerIp.
      const before = await run(() =>
        workers.findOneAndUpdate(
          { worker_id: info.worker_id },
          { $set: set },
          { returnDocument: 'before', includeResultMetadata: false },
        ),
      );
      if (before === null) throw new WorkerNotFoundError(info.worker_id);
      await version.bump();
      if (info.worker_ip !== undefined && before.worker_ip !== info.worker_ip) {
        await recordAdminEvent(db, { workerId: info.worker_id, kind: 'address_changed', detail: { from: before.worker_ip as unknown, to: info.worker_ip }, at: set.updated_at as Date });
      }
    },

    async updateWorkerIp(workerId, workerIp) {
      assertWorkerId(workerId);
      assertWorkerAddress(workerIp);
      const at = clock();
      const before = await run(() =>
        workers.findOneAndUpdate(
          { worker_id: workerId },
          { $set: { worker_ip: workerIp, updated_at: at } },
          { returnDocument: 'before', includeResultMetadata: false },
        ),
      );
      if (before === null) throw new WorkerNotFoundError(workerId);
      const doc = { ...before, worker_ip: workerIp, updated_at: at };
      // Masters re-read their view and close a session admitted against the old address.
      await version.bump();
      if (before.worker_ip !== workerIp) {
        await recordAdminEvent(db, { workerId, kind: 'address_changed', detail: { from: before.worker_ip as unknown, to: workerIp }, at });
      }
      return toWorker(doc);
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
      await recordAdminEvent(db, { workerId, kind: 'unregistered', at: clock() });
    },

    async workerExists(workerId) {
      assertWorkerId(workerId);
      return (await run(() => workers.countDocuments({ worker_id: workerId }))) > 0;
    },


  };
}
