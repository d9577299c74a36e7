import type { Document, Filter } from 'mongodb';
import { SINGLE_BATCH_SIZE } from './collections.js';
import { toWorker } from './document.js';
import type { Worker } from './worker.js';
import { filterFor } from './worker-filter.js';
import { matchesHardwareFilter } from './hardware-filter.js';
import type { RegistryContext, WorkerRegistry } from './worker-registry-types.js';

/** The contract's example queries, each one find, sorted by worker_id. */
export type QueryOperations = Pick<
  WorkerRegistry,
  'getAllWorkers' | 'findActive' | 'findByIp' | 'findStale' | 'findByMinResources' | 'findGpuWorkers' | 'findWorkers'
>;

const byWorkerId = (a: Worker, b: Worker): number =>
  a.worker_id < b.worker_id ? -1 : a.worker_id > b.worker_id ? 1 : 0;

export function queryOperations(context: RegistryContext): QueryOperations {
  const { workers, run } = context;
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

  return {
    getAllWorkers: () => find({}),
    findActive: () => find(filterFor({ active: true })),
    findByIp: (ip) => find(filterFor({ ip })),
    findStale: (cutoffUnixSeconds) => find(filterFor({ staleBefore: cutoffUnixSeconds })),
    // The contract's example: more than ($gt), unlike the CLI's --min-* filters (at least).
    findByMinResources: ({ cpu, memory }) =>
      find({
        ...(cpu !== undefined ? { total_cpu: { $gt: Number(cpu) } } : {}),
        ...(memory !== undefined ? { total_memory: { $gt: Number(memory) } } : {}),
      }),
    findGpuWorkers: () => find(filterFor({ gpu: true })),
    findWorkers: async (filter) => (await find(filterFor(filter))).filter((worker) => matchesHardwareFilter(worker, filter)),
  };
}
