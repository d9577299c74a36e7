/**
 * The latest value per worker waiting for a flush's write (specs, an
 * inventory): what PendingSpecs and PendingHardware share. Each says how a
 * flush takes its entries; a failed write's entries go back, unless a newer
 * value of the worker was queued meanwhile (the newer one wins).
 */
export abstract class PendingPerWorker<V, E extends { readonly worker_id: string }> {
  /** Insertion order is the queue's order: oldest first. */
  protected readonly pending = new Map<string, V>();

  get size(): number {
    return this.pending.size;
  }

  forget(workerId: string): void {
    this.pending.delete(workerId);
  }

  /** Removes and returns what one write takes, bounded by `max` (its meaning is the subclass's). */
  abstract take(max: number): E[];

  /** The value an entry was made from (to put it back). */
  protected abstract valueOf(entry: E): V;

  /** A failed write: its entries wait for the next flush, unless newer values of their workers are queued. */
  putBack(entries: readonly E[]): void {
    for (const entry of entries) if (!this.pending.has(entry.worker_id)) this.pending.set(entry.worker_id, this.valueOf(entry));
  }

  /** Writes what `take(max)` gives with `write`; true when nothing was pending or the write succeeded, else the entries are put back. */
  async writeSome(max: number, write: (entries: E[]) => Promise<unknown>): Promise<boolean> {
    if (this.pending.size === 0) return true;
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
