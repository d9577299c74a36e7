import type { Specs } from '@cluster/protocol';
import type { SpecsEntry } from '../ports.js';
import { PendingPerWorker } from './pending-per-worker.js';

/**
 * Workers written in one flush at most, whatever their specs: one statement's
 * `$in` of 10,000 ids is about 200 KB, far below a command's 16 MB.
 */
export const MAX_SPEC_ENTRIES_PER_FLUSH = 10_000;

/** Workers with equal specs share one statement (updateSpecs groups them the same way). */
function specsKey(specs: Specs): string {
  return [specs.total_cpu, specs.total_memory, specs.total_storage, specs.total_gpu].join('|');
}

/**
 * Spec changes waiting to be written, the latest per worker. A cycle takes at
 * most a bounded number of distinct sets of specs (each one statement of the
 * write), with every waiting worker that has one of them: a fleet's first
 * connection (every hello's specs are written, conditionally) is a statement
 * per kind of machine in one flush, not a hundred workers a second. A failed
 * write's entries go back, unless newer specs came meanwhile (PendingPerWorker).
 */
export class PendingSpecs extends PendingPerWorker<Specs, SpecsEntry> {
  /** Newer specs of a queued worker keep its place in the queue. */
  queue(workerId: string, specs: Specs): void {
    this.pending.set(workerId, specs);
  }

  /**
   * Removes and returns the entries of the first `maxSets` distinct sets of
   * specs (oldest first), MAX_SPEC_ENTRIES_PER_FLUSH entries at most.
   */
  take(maxSets: number): SpecsEntry[] {
    const sets = new Set<string>();
    const entries: SpecsEntry[] = [];
    for (const [worker_id, specs] of this.pending) {
      if (entries.length >= MAX_SPEC_ENTRIES_PER_FLUSH) break;
      const key = specsKey(specs);
      if (!sets.has(key)) {
        if (sets.size >= maxSets) continue;
        sets.add(key);
      }
      entries.push({ worker_id, ...specs });
    }
    for (const { worker_id } of entries) this.pending.delete(worker_id);
    return entries;
  }

  protected valueOf({ worker_id: _id, ...specs }: SpecsEntry): Specs {
    return specs;
  }
}
