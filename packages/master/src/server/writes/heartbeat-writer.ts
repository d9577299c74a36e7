import type { Specs } from '@cluster/protocol';
import type { Logger } from 'pino';
import type { MasterMetrics } from '../../metrics/metrics.js';
import { retryDelayMs } from '../backoff.js';
import { unixSeconds, type Clock, type Timer } from '../clock.js';
import { describeError, type DbHealth } from '../db-health.js';
import type { RegistryPort } from '../ports.js';
import type { WorkerHardwareEntry } from '../../registry/hardware-document.js';
import { InactiveFlags } from './inactive-flags.js';
import { MAX_HARDWARE_ENTRIES_PER_FLUSH, PendingHardware } from './pending-hardware.js';
import { PendingSpecs } from './pending-specs.js';
import { WriteOutcomes } from './write-outcomes.js';

/**
 * How soon a cycle runs once a goodbye or timeout is pending (capped at the
 * flush interval): a clean close is then in the database well within a second.
 */
export const INACTIVE_PROMPT_MS = 250;

/**
 * This many pending heartbeats bring the next cycle forward to now: the flush
 * interval is the longest a beat waits for its write, not a fixed cadence. A
 * beat that arrives just after a write took the pending set waits for the next
 * write to start and to end, and a write's time grows with its ids (about
 * 0.1 ms an id on the dev database, docs/DESIGN.md "Heartbeat write
 * cadence"): at 19,000 agents (3,800 beats/s) a 1 s cadence wrote ~3,900 ids
 * a write, ~0.5 s each, and a slow write pushed the tail past 2 s. Writing
 * from 2,000 ids (every 650 ms there, EARLY_FLUSH_MIN_GAP_MS: ~2,500 ids,
 * ~0.3 s) shortens both the wait and the write; a fleet under 10,000 agents
 * never reaches it and keeps the interval.
 */
export const FLUSH_AT_PENDING_HEARTBEATS = 2_000;

/**
 * A write brought forward by FLUSH_AT_PENDING_HEARTBEATS starts no sooner
 * than this after the previous cycle started: at most ~1.5 heartbeat writes a
 * second, so that with the sweep and the write-horizon publication the
 * master stays within 2 write commands a second (docs/DESIGN.md, "Performance
 * limits") at any fleet size; a fleet above ~15,000 agents is written every 650 ms.
 */
export const EARLY_FLUSH_MIN_GAP_MS = 650;

/** A write of this master that landed: heartbeats (last_heartbeat `second`, is_active true, updated_at `at`) or inventories. */
export type WrittenBatch =
  | { kind: 'heartbeats'; workerIds: readonly string[]; second: number; at: Date }
  | { kind: 'inventories'; workerIds: readonly string[] };
export type WrittenListener = (written: WrittenBatch) => void;

export interface HeartbeatWriterOptions {
  registry: Pick<RegistryPort, 'recordHeartbeats' | 'markInactive' | 'updateSpecs' | 'updateHardware' | 'existingWorkerIds'>;
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
  /** A flag write (markInactive of `ids` at `now`) changed `changed` of them: the worker history's hook. */
  onFlagged?: (ids: readonly string[], now: Date, changed: number) => void;
  /** A specs (or inventory) write of these workers changed `modified` documents (undefined: not told): the worker history's hook. */
  onSpecsWritten?: (what: 'specs' | 'hardware', ids: readonly string[], modified: number | undefined) => void;
  /** Default INACTIVE_PROMPT_MS. */
  inactivePromptMs?: number;
  /** Default FLUSH_AT_PENDING_HEARTBEATS. */
  flushAtPendingHeartbeats?: number;
  /** Default EARLY_FLUSH_MIN_GAP_MS (capped at the flush interval). */
  earlyFlushMinGapMs?: number;
}

/**
 * The heartbeat write loop: every agent message becomes at most one write of
 * each kind per flush interval for the whole fleet. Pending heartbeats are a
 * set of worker ids written with one updateMany ($in); inactive flags
 * (InactiveFlags) one markInactive, written first in a cycle so that a goodbye
 * never waits behind a big heartbeat write; spec changes (PendingSpecs) one
 * bulkWrite; changed inventories (PendingHardware) one bulkWrite, after the specs.
 *
 * Cycles are serialised, so a heartbeat in flight when its agent said goodbye
 * is overwritten by the next cycle's flag, never the other way round; a
 * goodbye drops the worker's pending heartbeat, so no later flush revives it.
 * A pending flag brings the next cycle forward to the prompt delay. A flag
 * raised while a cycle runs is written at once (express) unless its worker is
 * in the heartbeat write in flight, and the next cycle starts only once that
 * express write has landed, so timeouts reach the database as soon as they
 * are found, however slow the heartbeat writes are. A failed write puts its
 * ids back and the next cycle waits with exponential backoff.
 *
 * The flush interval bounds how long a beat waits for its write to start; as
 * many pending beats as flushAtPendingHeartbeats start it earlier (after the
 * cycle in flight, and earlyFlushMinGapMs after the last cycle started), so a
 * large fleet's writes stay small and its beats' wait short, while a small
 * fleet keeps one write per interval.
 */
export class HeartbeatWriter {
  #heartbeats = new Set<string>();
  /** Workers admitted (a hello) whose heartbeat has not been written since: the stale sweep spares them. */
  readonly #unwrittenAdmissions = new Set<string>();
  /** Ids of the heartbeat write in flight: their flags wait for it. */
  #writingHeartbeats: ReadonlySet<string> = new Set();
  readonly #flags: InactiveFlags;
  readonly #specs = new PendingSpecs();
  readonly #hardware = new PendingHardware();
  readonly #writes: WriteOutcomes;
  /**
   * Whether a flag may be written express now: from the moment the running
   * cycle took its heartbeats to its end. Not before: the cycle waits for the
   * express write at its start, and must not find a new one in flight when it
   * writes heartbeats.
   */
  #expressOpen = false;
  #chain: Promise<unknown> = Promise.resolve();
  #timer: Timer | undefined;
  /** Monotonic time #timer fires. */
  #timerDueMs = 0;
  /** Monotonic time the last timed cycle started. */
  #cycleStartedMs = Number.NEGATIVE_INFINITY;
  #running = false;
  #stopped: Promise<void> | undefined;
  readonly #writtenListeners = new Set<WrittenListener>();

  constructor(private readonly options: HeartbeatWriterOptions) {
    this.#writes = new WriteOutcomes({
      metrics: options.metrics,
      health: options.health,
      nextRetryMs: (failures) => (this.#running ? this.#retryDelay(failures - 1) : undefined),
    });
    this.#flags = new InactiveFlags({
      write: (ids, now, lastWritten) => this.#flag(ids, now, lastWritten),
      now: options.clock.now,
      heartbeatPending: (id) => this.#heartbeats.has(id),
      afterExpress: () => this.#maybeExpress(),
    });
  }

  /**
   * Hears each heartbeat write and inventory write that landed (the fleet
   * feed keeps the page current from them without reading the registry).
   * Returns the unsubscribe.
   */
  onWritten(listener: WrittenListener): () => void {
    this.#writtenListeners.add(listener);
    return () => this.#writtenListeners.delete(listener);
  }

  /** A listener (the fleet feed) that throws must not stop the write loop or count as a database failure. */
  #tellWritten(written: Parameters<WrittenListener>[0]): void {
    for (const listener of this.#writtenListeners) {
      try {
        listener(written);
      } catch (error) {
        this.options.logger.error({ error: error instanceof Error ? error.message : String(error) }, 'a listener of heartbeat writes failed');
      }
    }
  }

  /** Counts of what waits for the next flush (for the log at stop()). */
  get pending(): { heartbeats: number; inactive: number; specs: number; hardware: number } {
    return { heartbeats: this.#heartbeats.size, inactive: this.#flags.size, specs: this.#specs.size, hardware: this.#hardware.size };
  }

  /** A hello: the worker is active again; it cancels a pending inactive flag. */
  admit(workerId: string): void {
    this.#flags.admit(workerId);
    this.#heartbeats.add(workerId);
    this.#unwrittenAdmissions.add(workerId);
    this.#flushIfFull();
  }

  /**
   * Workers admitted here whose return is not in the database yet (no
   * heartbeat write of theirs has succeeded since the hello): alive, though
   * their document still shows the silence before it.
   */
  get unwrittenAdmissions(): ReadonlySet<string> {
    return this.#unwrittenAdmissions;
  }

  heartbeat(workerId: string): void {
    if (this.#flags.has(workerId)) return;
    this.#heartbeats.add(workerId);
    this.#flushIfFull();
  }

  /** A goodbye or a timeout: drops the pending heartbeat and queues is_active false. */
  markInactive(workerIds: Iterable<string>): void {
    for (const id of workerIds) {
      this.#heartbeats.delete(id);
      this.#unwrittenAdmissions.delete(id);
      this.#flags.raise(id);
    }
    this.#bringForward();
    this.#maybeExpress();
  }

  /**
   * Flags these workers in a write of their own, serialised with the cycles
   * (a heartbeat of theirs in flight lands first, as does an express flag),
   * and resolves how many it changed: the hand-over's flag, where most
   * workers have moved to another master and are left alone. Resolves
   * undefined when the write failed or took longer than finalFlushTimeoutMs
   * (a stopping master must not wait on a hung database); they are then
   * queued as any flag, for the final flush, which is bounded too.
   */
  async flagCounted(workerIds: readonly string[]): Promise<number | undefined> {
    const { clock, finalFlushTimeoutMs, registry } = this.options;
    const ids = [...workerIds];
    for (const id of ids) {
      this.#heartbeats.delete(id);
      this.#unwrittenAdmissions.delete(id);
    }
    const run = this.#chain.then(async () => {
      if (this.#flags.express !== undefined) await this.#flags.express;
      const now = new Date(clock.now());
      const flagged = await this.#writes.write('inactive', () => registry.markInactive(ids, now, this.#flags.lastWritten));
      this.options.onFlagged?.(ids, now, flagged);
      return flagged;
    });
    this.#chain = run.catch(() => undefined);
    let timer: Timer | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = clock.setTimeout(() => resolve(undefined), finalFlushTimeoutMs);
    });
    const changed = await Promise.race([run.catch(() => undefined), late]);
    clock.clearTimeout(timer);
    if (changed === undefined) this.markInactive(ids);
    return changed;
  }

  queueSpecs(workerId: string, specs: Specs): void {
    this.#specs.queue(workerId, specs);
  }

  /** A changed inventory (the caller compared digests): written at the next flush, only where the document's differs. */
  queueHardware(entry: WorkerHardwareEntry): void {
    this.#hardware.queue(entry);
  }

  /** The worker was unregistered: nothing more to write for it. */
  forget(workerId: string): void {
    this.#heartbeats.delete(workerId);
    this.#unwrittenAdmissions.delete(workerId);
    this.#specs.forget(workerId);
    this.#hardware.forget(workerId);
    this.#flags.forget(workerId);
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
      const { clock, finalFlushTimeoutMs, logger } = this.options;
      this.#running = false;
      clock.clearTimeout(this.#timer);
      let timer: Timer | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = clock.setTimeout(resolve, finalFlushTimeoutMs);
      });
      const { heartbeats, inactive, specs } = this.pending;
      await Promise.race([this.flushNow().then(() => undefined), deadline]);
      clock.clearTimeout(timer);
      if (this.pending.heartbeats + this.pending.inactive + this.pending.specs > 0) {
        logger.warn({ pending: this.pending }, 'could not write everything before closing');
      } else if (heartbeats + inactive + specs > 0) {
        logger.debug({ heartbeats, inactive, specs }, 'final flush written');
      }
    })();
    return this.#stopped;
  }

  get #promptMs(): number {
    return Math.min(this.options.inactivePromptMs ?? INACTIVE_PROMPT_MS, this.options.flushIntervalMs);
  }

  /** A flag is pending: run the next cycle within #promptMs, unless one is already due sooner or running. */
  #bringForward(delayMs = this.#promptMs): void {
    if (!this.#running || this.#timer === undefined || this.#writes.failures > 0) return;
    const due = this.options.clock.monotonic() + delayMs;
    if (this.#timerDueMs <= due) return;
    this.options.clock.clearTimeout(this.#timer);
    this.#schedule(delayMs);
  }

  get #fullAt(): number {
    return this.options.flushAtPendingHeartbeats ?? FLUSH_AT_PENDING_HEARTBEATS;
  }

  /** How long from now a cycle brought forward by the pending beats may start. */
  #earlyDelayMs(): number {
    const gap = Math.min(this.options.earlyFlushMinGapMs ?? EARLY_FLUSH_MIN_GAP_MS, this.options.flushIntervalMs);
    return Math.max(0, this.#cycleStartedMs + gap - this.options.clock.monotonic());
  }

  /**
   * Enough beats pending for a write of their own: the next cycle starts now
   * (or at the least gap after the last one started), or, while one runs, as
   * soon as it ends (#schedule). Called for every beat: once the timer is due,
   * the rest return at the size check or the due check.
   */
  #flushIfFull(): void {
    if (this.#heartbeats.size >= this.#fullAt) this.#bringForward(this.#earlyDelayMs());
  }

  /**
   * Writes the pending flags now if a cycle is running and they need not wait
   * for it (see the class comment). Not while failing: the cycle's backoff
   * decides when the database is tried again.
   */
  #maybeExpress(): void {
    if (!this.#running || !this.#expressOpen || this.#writes.failures > 0) return;
    this.#flags.writeExpress(this.#writingHeartbeats);
  }

  #schedule(delayMs: number): void {
    const { clock } = this.options;
    this.#timerDueMs = clock.monotonic() + delayMs;
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      const startedAt = clock.monotonic();
      this.#cycleStartedMs = startedAt;
      void this.flushNow().then((ok) => {
        if (!this.#running) return;
        if (ok) {
          this.#writes.failures = 0;
          // A fixed cadence: the time the cycle took counts towards the interval.
          const took = clock.monotonic() - startedAt;
          const next = this.#heartbeats.size >= this.#fullAt ? this.#earlyDelayMs() : Math.max(0, this.options.flushIntervalMs - took);
          this.#schedule(this.#flags.size > 0 ? Math.min(next, this.#promptMs) : next);
        } else {
          this.#schedule(this.#retryDelay(this.#writes.failures - 1));
        }
      });
    }, delayMs);
  }

  #retryDelay(attempt: number): number {
    return retryDelayMs(attempt, this.options.retryBaseMs, this.options.retryCapMs);
  }

  /** One markInactive write; fewer changed than sent means already inactive, or served by another master now. */
  async #flag(ids: string[], now: Date, lastWritten: ReadonlyMap<string, number>): Promise<void> {
    const changed = await this.#writes.write('inactive', () => this.options.registry.markInactive(ids, now, lastWritten));
    this.options.onFlagged?.(ids, now, changed);
    if (changed < ids.length) {
      this.options.logger.debug({ sent: ids.length, changed }, 'inactive flag left workers alone (already inactive, or a newer heartbeat from another master)');
    }
  }

  async #cycle(): Promise<boolean> {
    // An express flag lands before anything this cycle writes (a later heartbeat of that worker above all).
    if (this.#flags.express !== undefined) await this.#flags.express;
    this.#flags.cycleStarted();
    const now = new Date(this.options.clock.now());
    if (!(await this.#flags.writePending(now))) return false;
    // Taken when the pending beats are: they are written as last_heartbeat, and the sweep judges against them.
    const beatsAtMs = this.options.clock.now();
    if (!(await this.#writeHeartbeats(beatsAtMs))) return false;
    const specsWritten = await this.#specs.writeSome(this.options.maxSpecsPerFlush, (entries) =>
      this.#writes.write('specs', async () => {
        const modified = await this.options.registry.updateSpecs(entries, now);
        this.options.onSpecsWritten?.('specs', entries.map((e) => e.worker_id), typeof modified === 'number' ? modified : undefined);
      }),
    );
    if (!specsWritten) return false;
    const hardwareWritten = await this.#hardware.writeSome(MAX_HARDWARE_ENTRIES_PER_FLUSH, async (entries) => {
      await this.#writes.write('hardware', async () => {
        const modified = await this.options.registry.updateHardware(entries, now);
        this.options.onSpecsWritten?.('hardware', entries.map((e) => e.worker_id), typeof modified === 'number' ? modified : undefined);
      });
      this.#tellWritten({ kind: 'inventories', workerIds: entries.map((e) => e.worker_id) });
    });
    if (!hardwareWritten) return false;
    if (this.options.afterFlush !== undefined) {
      try {
        await this.options.afterFlush(beatsAtMs);
      } catch (error) {
        this.#writes.failed('sweep', error);
        return false;
      }
    }
    return true;
  }

  async #writeHeartbeats(beatsAtMs: number): Promise<boolean> {
    if (this.#heartbeats.size === 0) {
      // No heartbeats to write: a flag raised from here on need not wait for the specs or the sweep.
      this.#expressOpen = true;
      return true;
    }
    // The pending set becomes the set in flight; beats from now on go to a new one.
    const writing = this.#heartbeats;
    this.#heartbeats = new Set();
    const ids = [...writing];
    const second = unixSeconds(beatsAtMs);
    this.#flags.heartbeatsWriting(ids, second);
    let matched: number;
    this.#writingHeartbeats = writing;
    this.#expressOpen = true;
    try {
      ({ matched } = await this.#writes.write('heartbeat', () => this.options.registry.recordHeartbeats(ids, second, new Date(beatsAtMs))));
    } catch {
      // A goodbye that came meanwhile wins over the beat that failed.
      for (const id of ids) if (!this.#flags.isPending(id)) this.#heartbeats.add(id);
      return false;
    } finally {
      this.#writingHeartbeats = new Set();
    }
    // Their return is in the database now (unless admitted again since: a new hello is pending again).
    for (const id of ids) if (!this.#heartbeats.has(id)) this.#unwrittenAdmissions.delete(id);
    this.#tellWritten({ kind: 'heartbeats', workerIds: ids, second, at: new Date(beatsAtMs) });
    // Flags that waited for this write need not wait for the rest of the cycle.
    this.#maybeExpress();
    if (matched < ids.length) {
      this.options.logger.debug({ written: ids.length, matched }, 'heartbeat matched fewer workers than written');
      await this.#findUnregistered(ids);
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
