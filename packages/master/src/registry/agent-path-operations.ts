import { SINGLE_BATCH_SIZE } from './collections.js';
import { ADMISSION_PROJECTION, specsToBson, toAdmissionEntry, unixSecondsToBson } from './document.js';
import { hardwareToBson } from './hardware-document.js';
import { inactiveFilter } from './inactive-filter.js';
import { filterFor } from './worker-filter.js';
import { assertSpecs, assertUnixSeconds, assertWorkerId } from './validate.js';
import type { WorkerSpecsEntry } from './worker.js';
import type { RegistryContext, WorkerRegistry } from './worker-registry-types.js';

/** The agents' paths (the master's batched writes and its admission view): never an upsert. */
export type AgentPathOperations = Pick<
  WorkerRegistry,
  'recordHeartbeats' | 'markInactive' | 'sweepStale' | 'updateSpecs' | 'updateHardware' | 'existingWorkerIds' | 'listAdmissionView'
>;

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

/** Most whole seconds a windowed sweep names; a wider window is the caller's to sweep in full. */
export const MAX_STALE_WINDOW_SECONDS = 600;

/** The whole seconds in [since, cutoff). */
function staleWindowSeconds(since: number, cutoff: number): number[] {
  if (cutoff - since > MAX_STALE_WINDOW_SECONDS) throw new RangeError(`a stale window holds at most ${MAX_STALE_WINDOW_SECONDS} seconds`);
  const seconds: number[] = [];
  for (let second = since; second < cutoff; second += 1) seconds.push(second);
  return seconds;
}

function assertDigest(digest: string): void {
  if (!/^[0-9a-f]{64}$/.test(digest)) throw new TypeError('hardware digest must be 64 hex digits');
}

function assertWorkerIds(workerIds: readonly string[]): void {
  for (const workerId of workerIds) assertWorkerId(workerId);
}

export function agentPathOperations(context: RegistryContext): AgentPathOperations {
  const { workers, run, maxUpdatesPerCommand } = context;
  return {
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

    async sweepStale(cutoffUnixSeconds, now, spare = [], sinceUnixSeconds) {
      assertUnixSeconds(cutoffUnixSeconds, 'cutoff');
      assertWorkerIds(spare);
      // Without spared workers, the contract's stale filter alone (the form the dev database pushes down).
      const stale = filterFor({ staleBefore: cutoffUnixSeconds });
      let filter: Record<string, unknown> = spare.length === 0 ? stale : { ...stale, worker_id: { $nin: [...spare] } };
      if (sinceUnixSeconds !== undefined) {
        assertUnixSeconds(sinceUnixSeconds, 'since');
        const seconds = staleWindowSeconds(sinceUnixSeconds, cutoffUnixSeconds);
        if (seconds.length === 0) return 0;
        // The window as the whole seconds it holds: an equality list drives the last_heartbeat
        // index on the dev database too, where a range is checked on every active row.
        filter = { ...filter, last_heartbeat: { $lt: unixSecondsToBson(cutoffUnixSeconds), $in: seconds.map(unixSecondsToBson) } };
      }
      const result = await run(() =>
        workers.updateMany(filter, {
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
        // Only documents that differ: a hello's specs are written whatever the master's cache says,
        // and a document already true keeps its updated_at.
        const differs = {
          $or: [
            { total_cpu: { $ne: specs.total_cpu } },
            { total_memory: { $ne: specs.total_memory } },
            { total_storage: { $ne: specs.total_storage } },
            { total_gpu: { $ne: specs.total_gpu } },
          ],
        };
        return workerIds.length === 1
          ? { updateOne: { filter: { worker_id: workerIds[0], ...differs }, update } }
          : { updateMany: { filter: { worker_id: { $in: workerIds }, ...differs }, update } };
      });
      let modified = 0;
      for (let start = 0; start < statements.length; start += maxUpdatesPerCommand) {
        const chunk = statements.slice(start, start + maxUpdatesPerCommand);
        // Independent updates: one failing must not stop the others
        // (FerretDB ignores this and applies them in order anyway).
        modified += (await run(() => workers.bulkWrite(chunk, { ordered: false }))).modifiedCount;
      }
      return modified;
    },

    async updateHardware(entries, now) {
      const last = new Map<string, (typeof entries)[number]>();
      for (const entry of entries) {
        assertWorkerId(entry.worker_id);
        assertDigest(entry.digest);
        last.set(entry.worker_id, entry);
      }
      // One statement per worker (inventories differ by their UUIDs), and only where the digest
      // differs: an inventory already in the document keeps it and its updated_at untouched.
      const statements = [...last.values()].map(({ worker_id, hardware, digest }) => ({
        updateOne: {
          filter: { worker_id, 'hardware.digest': { $ne: digest } },
          update: { $set: { hardware: hardwareToBson(hardware, digest, now), updated_at: now } },
        },
      }));
      let modified = 0;
      for (let start = 0; start < statements.length; start += maxUpdatesPerCommand) {
        const chunk = statements.slice(start, start + maxUpdatesPerCommand);
        modified += (await run(() => workers.bulkWrite(chunk, { ordered: false }))).modifiedCount;
      }
      return modified;
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
}
