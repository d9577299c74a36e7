import type { WorkerHardwareEntry } from '../../registry/hardware-document.js';
import { PendingPerWorker } from './pending-per-worker.js';

/**
 * Workers whose inventory is written in one flush at most (one statement each,
 * in commands of maxUpdatesPerCommand). Only changed inventories are queued
 * (session-host compares digests with the view), so this is reached when a
 * fleet first reports, not at every reconnect; the rest wait a flush.
 */
export const MAX_HARDWARE_ENTRIES_PER_FLUSH = 100;

/**
 * Inventories waiting to be written, the latest per worker; a worker queued
 * again goes to the end of the queue. A failed write's entries go back,
 * unless a newer inventory came meanwhile (PendingPerWorker).
 */
export class PendingHardware extends PendingPerWorker<WorkerHardwareEntry, WorkerHardwareEntry> {
  queue(entry: WorkerHardwareEntry): void {
    this.pending.delete(entry.worker_id);
    this.pending.set(entry.worker_id, entry);
  }

  /** Removes and returns the oldest `max` entries. */
  take(max: number): WorkerHardwareEntry[] {
    const taken: WorkerHardwareEntry[] = [];
    for (const entry of this.pending.values()) {
      if (taken.length >= max) break;
      taken.push(entry);
    }
    for (const { worker_id } of taken) this.pending.delete(worker_id);
    return taken;
  }

  protected valueOf(entry: WorkerHardwareEntry): WorkerHardwareEntry {
    return entry;
  }
}
