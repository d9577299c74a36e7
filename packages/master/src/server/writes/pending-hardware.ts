import type { WorkerHardwareEntry } from '../../registry/hardware-document.js';

/**
 * Workers whose inventory is written in one flush at most (one statement each,
 * in commands of maxUpdatesPerCommand). Only changed inventories are queued
 * (session-host compares digests with the view), so this is reached when a
 * fleet first reports, not at every reconnect; the rest wait a flush.
 */
export const MAX_HARDWARE_ENTRIES_PER_FLUSH = 100;

/**
 * Inventories waiting to be written, the latest per worker. A failed write's
 * entries go back, unless a newer inventory came meanwhile.
 */
export class PendingHardware {
  readonly #entries = new Map<string, WorkerHardwareEntry>();

  get size(): number {
    return this.#entries.size;
  }

  queue(entry: WorkerHardwareEntry): void {
    this.#entries.delete(entry.worker_id);
    this.#entries.set(entry.worker_id, entry);
  }

  forget(workerId: string): void {
    this.#entries.delete(workerId);
  }

  /** Removes and returns the oldest `max` entries. */
  take(max: number): WorkerHardwareEntry[] {
    const taken: WorkerHardwareEntry[] = [];
    for (const entry of this.#entries.values()) {
      if (taken.length >= max) break;
      taken.push(entry);
    }
    for (const { worker_id } of taken) this.#entries.delete(worker_id);
    return taken;
  }

  putBack(entries: readonly WorkerHardwareEntry[]): void {
    for (const entry of entries) if (!this.#entries.has(entry.worker_id)) this.#entries.set(entry.worker_id, entry);
  }

  /** Writes up to `max` entries with `write`; true when nothing was pending or the write succeeded, else they are put back. */
  async writeSome(max: number, write: (entries: WorkerHardwareEntry[]) => Promise<unknown>): Promise<boolean> {
    if (this.#entries.size === 0) return true;
    const entries = this.take(max);
    try {
      await write(entries);
      return true;
    } catch {
      this.putBack(entries);
      return false;
    }
  }
}
