import type { Specs } from '@cluster/protocol';
import type { SpecsEntry } from '../ports.js';

/**
 * Spec changes waiting to be written, the latest per worker. A cycle takes at
 * most a bounded number (a fleet's first connection, every worker's specs
 * new, becomes a few bounded writes instead of one huge one) and puts them
 * back if the write failed, unless newer specs came meanwhile.
 */
export class PendingSpecs {
  readonly #specs = new Map<string, Specs>();

  get size(): number {
    return this.#specs.size;
  }

  queue(workerId: string, specs: Specs): void {
    this.#specs.set(workerId, specs);
  }

  forget(workerId: string): void {
    this.#specs.delete(workerId);
  }

  /** Removes and returns up to `max` entries, oldest first. */
  take(max: number): SpecsEntry[] {
    const entries: SpecsEntry[] = [];
    for (const [worker_id, specs] of this.#specs) {
      if (entries.length >= max) break;
      entries.push({ worker_id, ...specs });
    }
    for (const { worker_id } of entries) this.#specs.delete(worker_id);
    return entries;
  }

  /** A failed write: its entries wait for the next cycle, unless newer specs of the worker are queued. */
  putBack(entries: readonly SpecsEntry[]): void {
    for (const { worker_id, ...specs } of entries) {
      if (!this.#specs.has(worker_id)) this.#specs.set(worker_id, specs);
    }
  }

  /** Writes up to `max` entries with `write`; true when nothing was pending or the write succeeded, else they are put back. */
  async writeSome(max: number, write: (entries: SpecsEntry[]) => Promise<unknown>): Promise<boolean> {
    if (this.#specs.size === 0) return true;
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
