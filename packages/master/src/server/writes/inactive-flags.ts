/** Writes `is_active: false` for these workers (one markInactive), each only where the registry holds no heartbeat newer than `lastWritten`. */
export type FlagWrite = (ids: string[], now: Date, lastWritten: ReadonlyMap<string, number>) => Promise<void>;

export interface InactiveFlagsOptions {
  write: FlagWrite;
  /** Wall clock (epoch ms) of an express write. */
  now: () => number;
  /** Whether a heartbeat of the worker is pending (it was admitted again): a failed express flag is not put back then. */
  heartbeatPending: (workerId: string) => boolean;
  /** Called when an express write has ended (another may be due). */
  afterExpress: () => void;
}

/**
 * The inactive flags (goodbyes and timeouts) of the heartbeat write loop:
 * those pending for the next cycle, the one express write that may run
 * beside a cycle, and what a flag must not overwrite.
 *
 * A flag applies only where the registry holds no heartbeat newer than the
 * last one this master wrote for that worker (`lastWritten`): with several
 * masters, a worker that moved to another one is that master's to flag.
 */
export class InactiveFlags {
  readonly #pending = new Set<string>();
  /** Workers admitted while a cycle ran: a flag that failed must not be put back for them. */
  readonly #readmitted = new Set<string>();
  /**
   * The newest last_heartbeat (unix seconds) this master has tried to write
   * for each worker. Set before the write, so a write that failed but landed
   * is covered too.
   */
  readonly #lastWritten = new Map<string, number>();
  /** The express write in flight, and its ids (a late beat from them is ignored, as for pending flags). */
  #express: Promise<void> | undefined;
  #expressIds: ReadonlySet<string> = new Set();

  constructor(private readonly options: InactiveFlagsOptions) {}

  /** Flags waiting for the next cycle (the express one in flight not counted). */
  get size(): number {
    return this.#pending.size;
  }

  /** The express write in flight, if any. */
  get express(): Promise<void> | undefined {
    return this.#express;
  }

  /** Whether the worker is flagged (pending or in the express write): its late beats are ignored. */
  has(workerId: string): boolean {
    return this.#pending.has(workerId) || this.#expressIds.has(workerId);
  }

  /** Whether a flag of the worker waits for the next cycle. */
  isPending(workerId: string): boolean {
    return this.#pending.has(workerId);
  }

  raise(workerId: string): void {
    this.#readmitted.delete(workerId);
    this.#pending.add(workerId);
  }

  /** A hello: cancels a pending flag. */
  admit(workerId: string): void {
    this.#pending.delete(workerId);
    this.#readmitted.add(workerId);
  }

  forget(workerId: string): void {
    this.#pending.delete(workerId);
    this.#lastWritten.delete(workerId);
  }

  /** The newest last_heartbeat this master has tried to write, per worker: what a flag must not overwrite. */
  get lastWritten(): ReadonlyMap<string, number> {
    return this.#lastWritten;
  }

  /** A heartbeat write of `second` for these workers is about to be sent. */
  heartbeatsWriting(ids: readonly string[], second: number): void {
    for (const id of ids) this.#lastWritten.set(id, Math.max(second, this.#lastWritten.get(id) ?? second));
  }

  /** A cycle begins: readmissions before it no longer matter. */
  cycleStarted(): void {
    this.#readmitted.clear();
  }

  /** Writes every pending flag; a failure puts them back (except for workers admitted again meanwhile). */
  async writePending(now: Date): Promise<boolean> {
    if (this.#pending.size === 0) return true;
    const ids = [...this.#pending];
    this.#pending.clear();
    try {
      await this.options.write(ids, now, this.#lastWritten);
      return true;
    } catch {
      for (const id of ids) if (!this.#readmitted.has(id)) this.#pending.add(id);
      return false;
    }
  }

  /** Starts an express write of the pending flags outside `waiting` (their heartbeat write must land first), unless one runs. */
  writeExpress(waiting: ReadonlySet<string>): void {
    if (this.#express !== undefined) return;
    const ids = [...this.#pending].filter((id) => !waiting.has(id));
    if (ids.length === 0) return;
    for (const id of ids) this.#pending.delete(id);
    this.#expressIds = new Set(ids);
    this.#express = this.#writeExpress(ids).finally(() => {
      this.#express = undefined;
      this.#expressIds = new Set();
      this.options.afterExpress();
    });
  }

  async #writeExpress(ids: string[]): Promise<void> {
    try {
      await this.options.write(ids, new Date(this.options.now()), this.#lastWritten);
    } catch {
      // Back for the next cycle, unless admitted again meanwhile (its heartbeat is pending then:
      // no cycle writes heartbeats while this write is in flight).
      for (const id of ids) if (!this.options.heartbeatPending(id)) this.#pending.add(id);
    }
  }
}
