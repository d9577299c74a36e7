import type { Specs } from '@cluster/protocol';
import type { Logger } from 'pino';
import type { DbOp, MasterMetrics } from '../metrics/metrics.js';
import { retryDelayMs } from './backoff.js';
import { unixSeconds, type Clock } from './clock.js';
import { describeError, type DbHealth } from './db-health.js';
import type { RegistryPort, SpecsEntry } from './ports.js';

export interface HeartbeatWriterOptions {
  registry: Pick<RegistryPort, 'recordHeartbeats' | 'markInactive' | 'updateSpecs' | 'existingWorkerIds'>;
  clock: Clock;
  health: DbHealth;
  metrics: MasterMetrics;
  logger: Logger;
  flushIntervalMs: number;
  retryBaseMs: number;
  retryCapMs: number;
  /** Most spec updates written in one cycle (one command); the rest wait for the next. */
  maxSpecsPerFlush: number;
  /** Longest the final flush at close() may take before it is given up. */
  finalFlushTimeoutMs: number;
  /** Ids a heartbeat write did not match and that are no longer registered. */
  onUnregistered(ids: string[]): void;
  /**
   * Runs at the end of a cycle whose writes all succeeded, inside the same
   * serialised cycle (the stale sweep). It is given the wall time the cycle
   * wrote as last_heartbeat: the database is only that fresh, however long the
   * writes took. A throw counts as a failed cycle.
   */
  afterFlush?: (writtenAsOfMs: number) => Promise<void>;
  /** How soon a cycle runs once a goodbye or timeout is pending (at most flushIntervalMs). */
  inactivePromptMs?: number;
}

/**
 * Turns every agent message into at most one write of each kind per flush
 * interval for the whole fleet (and the express flags below): pending heartbeats are a set of worker ids written with one
 * updateMany ($in), the clean goodbyes and timeouts one markInactive, spec
 * changes one bulkWrite (of at most maxSpecsPerFlush updates).
 *
 * Cycles are serialised, so a heartbeat that was in flight when its agent
 * said goodbye is overwritten by the inactive flag of the next cycle, never the
 * other way round; and a goodbye removes the worker from the pending
 * heartbeats, so no later flush revives it. Within a cycle the two sets are
 * disjoint, and inactive flags go first: a goodbye must not wait behind a big
 * heartbeat write. A pending flag also brings the next cycle forward to
 * inactivePromptMs, so a clean close is in the database well within a second.
 *
 * A flag raised while a cycle runs does not wait for that cycle either, unless
 * its worker is in the heartbeat write in flight (that write must land first):
 * it is written at once, one such express write at a time, and the next cycle
 * starts only once it has landed, so no later heartbeat is overtaken by it.
 * A timed-out worker is not in the write in flight (unless that write has
 * taken longer than the timeout), so timeouts reach the database as soon as
 * they are found, however slow the heartbeat writes are.
 * A failed write puts its ids back (unless something newer happened to the
 * worker meanwhile) and the next cycle waits with exponential backoff.
 *
 * A flag applies only where the registry holds no heartbeat newer than the
 * last one this master wrote for that worker (see #lastWritten): with several
 * masters, a worker that moved to another one is that master's to flag.
 */
export class HeartbeatWriter {
  #heartbeats = new Set<string>();
  readonly #inactive = new Set<string>();
  readonly #specs = new Map<string, Specs>();
  /** Workers admitted while a cycle ran: an inactive flag that failed must not be put back for them. */
  readonly #readmitted = new Set<string>();
  /**
   * The newest last_heartbeat (unix seconds) this master has tried to write
   * for each worker: its flags apply only where the document holds nothing
   * newer, which another master the worker moved to would have written. Set
   * before the write, so a write that failed but landed is covered too.
   */
  readonly #lastWritten = new Map<string, number>();
  /** Ids of the heartbeat write in flight: their flags wait for it. */
  #writingHeartbeats: ReadonlySet<string> = new Set();
  /**
   * Whether a flag may be written express now: from the moment the running
   * cycle took its heartbeats to its end. Not before: the cycle waits for
   * the express write at its start, and must not find a new one in flight
   * when it writes heartbeats.
   */
  #expressOpen = false;
  /** The express inactive write in flight, and its ids (a late beat from them is ignored, as for pending flags). */
  #express: Promise<void> | undefined;
  #expressIds: ReadonlySet<string> = new Set();
  #chain: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  /** Monotonic time #timer fires. */
  #timerDueMs = 0;
  #failures = 0;
  #running = false;
  #stopped: Promise<void> | undefined;

  constructor(private readonly options: HeartbeatWriterOptions) {}

  /** Counts of what waits for the next flush (for the log at stop()). */
  get pending(): { heartbeats: number; inactive: number; specs: number } {
    return { heartbeats: this.#heartbeats.size, inactive: this.#inactive.size, specs: this.#specs.size };
  }

  /** A hello: the worker is active again; it cancels a pending inactive flag. */
  admit(workerId: string): void {
    this.#inactive.delete(workerId);
    this.#readmitted.add(workerId);
    this.#heartbeats.add(workerId);
  }

  heartbeat(workerId: string): void {
    if (this.#inactive.has(workerId) || this.#expressIds.has(workerId)) return;
    this.#heartbeats.add(workerId);
  }

  /** A goodbye or a timeout: drops the pending heartbeat and queues is_active false. */
  markInactive(workerIds: Iterable<string>): void {
    for (const id of workerIds) {
      this.#heartbeats.delete(id);
      this.#readmitted.delete(id);
      this.#inactive.add(id);
    }
    this.#bringForward();
    this.#maybeExpress();
  }

  queueSpecs(workerId: string, specs: Specs): void {
    this.#specs.set(workerId, specs);
  }

  /** The worker was unregistered: nothing more to write for it. */
  forget(workerId: string): void {
    this.#heartbeats.delete(workerId);
    this.#specs.delete(workerId);
    this.#inactive.delete(workerId);
    this.#lastWritten.delete(workerId);
  }

  start(): void {
    if (this.#running || this.#stopped !== undefined) return;
    this.#running = true;
    this.#schedule(this.options.flushIntervalMs);
  }

  /** Runs a cycle now (after the one in flight, if any); resolves true if all its writes succeeded. */
  flushNow(): Promise<boolean> {
    const run = this.#chain.then(async () => {
      try {
        return await this.#cycle();
      } finally {
        this.#expressOpen = false;
      }
    });
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Stops the timer and makes one last attempt to write what is pending, bounded in time. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#running = false;
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.options.finalFlushTimeoutMs);
      });
      const { heartbeats, inactive, specs } = this.pending;
      await Promise.race([this.flushNow().then(() => undefined), deadline]);
      clearTimeout(timer);
      if (this.pending.heartbeats + this.pending.inactive + this.pending.specs > 0) {
        this.options.logger.warn({ pending: this.pending }, 'could not write everything before closing');
      } else if (heartbeats + inactive + specs > 0) {
        this.options.logger.debug({ heartbeats, inactive, specs }, 'final flush written');
      }
    })();
    return this.#stopped;
  }

  get #promptMs(): number {
    return Math.min(this.options.inactivePromptMs ?? 250, this.options.flushIntervalMs);
  }

  /** A flag is pending: run the next cycle within #promptMs, unless one is already due sooner or running. */
  #bringForward(): void {
    if (!this.#running || this.#timer === undefined || this.#failures > 0) return;
    const promptDue = this.options.clock.monotonic() + this.#promptMs;
    if (this.#timerDueMs <= promptDue) return;
    clearTimeout(this.#timer);
    this.#schedule(this.#promptMs);
  }

  /**
   * Writes the pending flags now if a cycle is running and they need not wait
   * for it (see the class comment). Not while failing: the cycle's backoff
   * decides when the database is tried again.
   */
  #maybeExpress(): void {
    if (!this.#running || !this.#expressOpen || this.#express !== undefined || this.#failures > 0) return;
    const ids = [...this.#inactive].filter((id) => !this.#writingHeartbeats.has(id));
    if (ids.length === 0) return;
    for (const id of ids) this.#inactive.delete(id);
    this.#expressIds = new Set(ids);
    this.#express = this.#writeExpress(ids).finally(() => {
      this.#express = undefined;
      this.#expressIds = new Set();
      this.#maybeExpress();
    });
  }

  async #writeExpress(ids: string[]): Promise<void> {
    try {
      await this.#flag(ids, new Date(this.options.clock.now()));
    } catch {
      // Back for the next cycle, unless admitted again meanwhile (its heartbeat is pending then:
      // no cycle writes heartbeats while this write is in flight).
      for (const id of ids) if (!this.#heartbeats.has(id)) this.#inactive.add(id);
    }
  }

  #schedule(delayMs: number): void {
    this.#timerDueMs = this.options.clock.monotonic() + delayMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const startedAt = this.options.clock.monotonic();
      void this.flushNow().then((ok) => {
        if (!this.#running) return;
        if (ok) {
          this.#failures = 0;
          // A fixed cadence: the time the cycle took counts towards the interval.
          const took = this.options.clock.monotonic() - startedAt;
          const next = Math.max(0, this.options.flushIntervalMs - took);
          this.#schedule(this.#inactive.size > 0 ? Math.min(next, this.#promptMs) : next);
        } else {
          this.#schedule(this.#retryDelay(this.#failures - 1));
        }
      });
    }, delayMs);
  }

  #retryDelay(attempt: number): number {
    return retryDelayMs(attempt, this.options.retryBaseMs, this.options.retryCapMs);
  }

  async #write<T>(op: DbOp, fn: () => Promise<T>): Promise<T> {
    const end = this.options.metrics.dbWriteDuration.startTimer({ op });
    try {
      const result = await fn();
      end();
      this.options.health.success(op);
      return result;
    } catch (error) {
      end();
      this.options.metrics.dbWriteErrors.inc({ op });
      this.#failures += 1;
      this.options.health.failure(op, error, this.#running ? this.#retryDelay(this.#failures - 1) : undefined);
      throw error;
    }
  }

  /** One markInactive write; fewer changed than sent means already inactive, or served by another master now. */
  async #flag(ids: string[], now: Date): Promise<void> {
    const changed = await this.#write('inactive', () => this.options.registry.markInactive(ids, now, this.#lastWritten));
    if (changed < ids.length) {
      this.options.logger.debug({ sent: ids.length, changed }, 'inactive flag left workers alone (already inactive, or a newer heartbeat from another master)');
    }
  }

  async #cycle(): Promise<boolean> {
    // An express flag lands before anything this cycle writes (a later heartbeat of that worker above all).
    if (this.#express !== undefined) await this.#express;
    this.#readmitted.clear();
    const { registry } = this.options;
    const nowMs = this.options.clock.now();
    const now = new Date(nowMs);

    if (this.#inactive.size > 0) {
      const ids = [...this.#inactive];
      this.#inactive.clear();
      try {
        await this.#flag(ids, now);
      } catch {
        for (const id of ids) if (!this.#readmitted.has(id)) this.#inactive.add(id);
        return false;
      }
    }

    // Taken when the pending beats are: they are written as last_heartbeat, and the sweep judges against them.
    const beatsAtMs = this.options.clock.now();
    if (this.#heartbeats.size > 0) {
      // The pending set becomes the set in flight; beats from now on go to a new one.
      const writing = this.#heartbeats;
      this.#heartbeats = new Set();
      const ids = [...writing];
      const second = unixSeconds(beatsAtMs);
      for (const id of ids) this.#lastWritten.set(id, Math.max(second, this.#lastWritten.get(id) ?? second));
      let matched: number;
      this.#writingHeartbeats = writing;
      this.#expressOpen = true;
      try {
        ({ matched } = await this.#write('heartbeat', () =>
          registry.recordHeartbeats(ids, second, new Date(beatsAtMs)),
        ));
      } catch {
        // A goodbye that came meanwhile wins over the beat that failed.
        for (const id of ids) if (!this.#inactive.has(id)) this.#heartbeats.add(id);
        return false;
      } finally {
        this.#writingHeartbeats = new Set();
      }
      // Flags that waited for this write need not wait for the rest of the cycle.
      this.#maybeExpress();
      if (matched < ids.length) {
        this.options.logger.debug({ written: ids.length, matched }, 'heartbeat matched fewer workers than written');
        await this.#findUnregistered(ids);
      }
    } else {
      // No heartbeats to write: a flag raised from here on need not wait for the specs or the sweep.
      this.#expressOpen = true;
    }

    if (this.#specs.size > 0) {
      // At most maxSpecsPerFlush per cycle: a fleet's first connection (every
      // worker's specs new) becomes a few bounded writes instead of one huge one.
      const entries: SpecsEntry[] = [];
      for (const [worker_id, specs] of this.#specs) {
        if (entries.length >= this.options.maxSpecsPerFlush) break;
        entries.push({ worker_id, ...specs });
      }
      for (const { worker_id } of entries) this.#specs.delete(worker_id);
      try {
        await this.#write('specs', () => registry.updateSpecs(entries, now));
      } catch {
        for (const { worker_id, total_cpu, total_memory, total_storage, total_gpu } of entries) {
          if (!this.#specs.has(worker_id)) {
            this.#specs.set(worker_id, { total_cpu, total_memory, total_storage, total_gpu });
          }
        }
        return false;
      }
    }

    if (this.options.afterFlush !== undefined) {
      try {
        await this.options.afterFlush(beatsAtMs);
      } catch (error) {
        this.#failures += 1;
        this.options.health.failure('sweep', error, this.#running ? this.#retryDelay(this.#failures - 1) : undefined);
        return false;
      }
    }
    return true;
  }

  async #findUnregistered(ids: string[]): Promise<void> {
    try {
      const existing = await this.options.registry.existingWorkerIds(ids);
      const gone = ids.filter((id) => !existing.has(id));
      for (const id of gone) this.forget(id);
      if (gone.length > 0) this.options.onUnregistered(gone);
    } catch (error) {
      // The view refresh will notice too; this is only the faster path.
      this.options.logger.warn({ error: describeError(error) }, 'could not check which workers were unregistered');
    }
  }
}
