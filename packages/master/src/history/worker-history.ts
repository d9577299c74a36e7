import type { Logger } from 'pino';
import { every, type Clock, type Timer } from '../server/clock.js';
import { describeError } from '../server/db-health.js';
import type { ExpiryMode, WorkerEventStore } from './event-store.js';
import type { HistoryMetrics } from './history-metrics.js';
import { RefusalLimit } from './refusal-limit.js';
import type { FlagCause, WorkerEvent, WorkerEventKind } from './worker-event.js';

export const HISTORY_DEFAULTS = {
  /** How often the queue is written (one insertMany). */
  flushIntervalMs: 1_000,
  /** Events kept in memory at most; past it new ones are dropped and counted. */
  maxPending: 20_000,
  /** Events per insertMany at most. */
  maxPerInsert: 2_000,
  /** Flag outcomes waiting to be told apart (see flagged()) at most. */
  maxUnresolved: 1_000,
  /** One refusal event per worker and reason per this window at most. */
  refusalWindowMs: 60_000,
  /** How often the master deletes expired events where the database keeps no TTL index. */
  pruneIntervalMs: 10 * 60_000,
  /** Events deleted per prune at most (the rest go at the next one). */
  pruneLimit: 10_000,
  /** Longest the final write at stop() may take. */
  finalFlushTimeoutMs: 2_000,
} as const;

export interface WorkerHistoryOptions {
  store: WorkerEventStore;
  clock: Clock;
  logger: Logger;
  metrics: HistoryMetrics;
  /** This master's instance id: every event's `instance` and the prefix of its _id. */
  instance: string;
  /** Events older than this expire (the TTL index's expireAfterSeconds). */
  ttlSeconds: number;
  flushIntervalMs?: number;
  maxPending?: number;
  maxPerInsert?: number;
  refusalWindowMs?: number;
  pruneIntervalMs?: number;
}

/** A flag or sweep write that changed some of its workers but not all: which ones is read back. */
interface Unresolved {
  now: Date;
  ids: string[] | undefined;
  causes: Map<string, FlagCause> | FlagCause;
}

/**
 * The master's side of the worker history: the events it sees are queued in
 * memory and written by one insertMany per flush interval, on a timer of its
 * own, so no heartbeat write ever waits for one and a storm of 10,000
 * reconnects is a few commands, not 10,000.
 *
 * Each event's _id is `<instance>:<sequence>`, fixed when it is queued: a
 * batch whose write failed after it landed (a lost reply) is sent again as
 * is, and what is already there is refused by the unique _id instead of being
 * written twice. While the database is down the queue waits (bounded by
 * maxPending; what does not fit is dropped, counted in
 * cluster_master_worker_events_dropped_total and logged once per outage).
 *
 * Flags: a flag write (markInactive, the sweep) is conditional and reports
 * only how many it changed. When that is all it was sent, each gets its event;
 * when fewer, the workers left inactive with `updated_at` equal to the write's
 * time are read back at the next flush (one find), so a worker another master
 * took over is not said to be flagged.
 */
export class WorkerHistory {
  readonly #options: Required<Omit<WorkerHistoryOptions, 'store' | 'clock' | 'logger' | 'metrics' | 'instance' | 'ttlSeconds'>> & WorkerHistoryOptions;
  #queue: WorkerEvent[] = [];
  #unresolved: Unresolved[] = [];
  /** The cause each flagged worker's flag was raised for, until its write reports. */
  readonly #flagCauses = new Map<string, FlagCause>();
  readonly #refusals: RefusalLimit;
  /** Changes the view saw, waiting for their write (changeSeen). */
  readonly #specsSeen = new Map<string, { atMs: number; detail: Record<string, unknown> }>();
  readonly #hardwareSeen = new Map<string, { atMs: number; detail: Record<string, unknown> }>();
  #sequence = 0;
  #expiry: ExpiryMode | undefined;
  #droppedUnlogged = 0;
  #failing = false;
  #flushing: Promise<void> | undefined;
  #stopTimer: (() => void) | undefined;
  #stopPrune: (() => void) | undefined;
  #stopped: Promise<void> | undefined;

  constructor(options: WorkerHistoryOptions) {
    this.#options = {
      flushIntervalMs: HISTORY_DEFAULTS.flushIntervalMs,
      maxPending: HISTORY_DEFAULTS.maxPending,
      maxPerInsert: HISTORY_DEFAULTS.maxPerInsert,
      refusalWindowMs: HISTORY_DEFAULTS.refusalWindowMs,
      pruneIntervalMs: HISTORY_DEFAULTS.pruneIntervalMs,
      ...options,
    };
    this.#refusals = new RefusalLimit(this.#options.refusalWindowMs);
  }

  /** Events queued, not yet written. */
  get pending(): number {
    return this.#queue.length;
  }

  /** How old events expire here, once known (after the first successful flush). */
  get expiry(): ExpiryMode | undefined {
    return this.#expiry;
  }

  /** Queues an event; never waits, never throws. */
  record(workerId: string, kind: WorkerEventKind, cause: string | null, detail?: Record<string, unknown>, atMs?: number): void {
    if (this.#stopped !== undefined) return;
    if (this.#queue.length >= this.#options.maxPending) {
      this.#options.metrics.dropped.inc();
      this.#droppedUnlogged += 1;
      return;
    }
    this.#sequence += 1;
    this.#queue.push({
      _id: `${this.#options.instance}:${this.#sequence.toString(36).padStart(10, '0')}`,
      worker_id: workerId,
      at: new Date(atMs ?? this.#options.clock.now()),
      kind,
      cause,
      instance: this.#options.instance,
      ...(detail === undefined ? {} : { detail }),
    });
    this.#options.metrics.pending.set(this.#queue.length);
  }

  /** A refusal of a registered worker: recorded at most once per window per worker and reason. */
  refused(workerId: string, reason: string, address: string | undefined): void {
    const verdict = this.#refusals.allow(workerId, reason, this.#options.clock.monotonic());
    if (!verdict.record) return;
    this.record(workerId, 'refused', reason, { address: address ?? null, ...(verdict.repeated > 0 ? { repeated_before: verdict.repeated } : {}) });
  }

  /**
   * The master's view says the worker's specs (or inventory) changed. The
   * view may be behind the database for a worker another master served
   * last, so the event waits for the write, which changes only a document
   * that differs (changesWritten).
   */
  changeSeen(workerId: string, what: 'specs' | 'hardware', detail: Record<string, unknown>): void {
    const seen = what === 'specs' ? this.#specsSeen : this.#hardwareSeen;
    if (seen.size >= this.#options.maxPending) seen.clear();
    seen.set(workerId, { atMs: this.#options.clock.now(), detail });
  }

  /**
   * A specs (inventory) write of `ids` changed `modified` documents. None:
   * the view was behind, nothing changed, no event. At least as many as the
   * changes the view saw: each is an event. Between the two (a write that
   * mixed stale and true changes, rare): each is an event, marked
   * `unconfirmed`. Undefined (not told): each is an event.
   */
  changesWritten(what: 'specs' | 'hardware', ids: readonly string[], modified: number | undefined): void {
    const seen = what === 'specs' ? this.#specsSeen : this.#hardwareSeen;
    const changes: [string, { atMs: number; detail: Record<string, unknown> }][] = [];
    for (const id of ids) {
      const change = seen.get(id);
      if (change === undefined) continue;
      seen.delete(id);
      changes.push([id, change]);
    }
    if (changes.length === 0 || modified === 0) return;
    const unconfirmed = modified !== undefined && modified < changes.length;
    const kind = what === 'specs' ? 'specs_changed' : 'inventory_changed';
    for (const [id, change] of changes) {
      this.record(id, kind, null, unconfirmed ? { ...change.detail, unconfirmed: true } : change.detail, change.atMs);
    }
  }

  /** These workers' flags were raised for `cause` (the write reports later, through flagged()). */
  flagRaised(workerIds: readonly string[], cause: FlagCause): void {
    for (const id of workerIds) this.#flagCauses.set(id, cause);
  }

  /** The worker is active again: a flag raised before no longer applies. */
  admittedAgain(workerId: string): void {
    this.#flagCauses.delete(workerId);
  }

  /** A markInactive write of `ids` at `now` changed `changed` of them. */
  flagged(ids: readonly string[], now: Date, changed: number): void {
    const causes = new Map<string, FlagCause>();
    for (const id of ids) {
      causes.set(id, this.#flagCauses.get(id) ?? 'master_close');
      this.#flagCauses.delete(id);
    }
    if (changed <= 0) return;
    if (changed >= ids.length) {
      for (const [id, cause] of causes) this.record(id, 'flagged_inactive', cause, undefined, now.getTime());
      return;
    }
    this.#resolveLater({ now, ids: [...ids], causes });
  }

  /** A sweep written at `now` flagged `changed` workers (which ones is read back). */
  swept(now: Date, changed: number): void {
    if (changed > 0) this.#resolveLater({ now, ids: undefined, causes: 'sweep' });
  }

  start(): void {
    if (this.#stopTimer !== undefined || this.#stopped !== undefined) return;
    this.#stopTimer = every(this.#options.clock, this.#options.flushIntervalMs, () => void this.flush());
  }

  /** Writes what is queued (one insertMany; before it, one find per unresolved flag write). Serialised. */
  flush(): Promise<void> {
    this.#flushing ??= this.#flushOnce().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  /** Stops the timers and writes what is queued, within finalFlushTimeoutMs (not at all while writes fail); what is left is logged. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stopTimer?.();
      this.#stopPrune?.();
      const { clock } = this.#options;
      let timer: Timer | undefined;
      const late = new Promise<void>((resolve) => {
        timer = clock.setTimeout(resolve, HISTORY_DEFAULTS.finalFlushTimeoutMs);
      });
      const drain = async (): Promise<void> => {
        // A flush in flight may have begun before the last events were queued.
        await this.flush();
        if (this.#queue.length > 0 || this.#unresolved.length > 0) await this.flush();
      };
      // A database that is failing already is not waited for: the master's close must not hang on it.
      if (!this.#failing) await Promise.race([drain(), late]);
      clock.clearTimeout(timer);
      this.#logDropped();
      if (this.#queue.length > 0) this.#options.logger.warn({ events: this.#queue.length }, 'worker events not written before closing');
    })();
    return this.#stopped;
  }

  #resolveLater(entry: Unresolved): void {
    if (this.#unresolved.length >= HISTORY_DEFAULTS.maxUnresolved) {
      this.#options.metrics.dropped.inc();
      this.#droppedUnlogged += 1;
      return;
    }
    this.#unresolved.push(entry);
  }

  async #flushOnce(): Promise<void> {
    const { store, logger, metrics } = this.#options;
    this.#logDropped();
    if (this.#queue.length === 0 && this.#unresolved.length === 0) return;
    try {
      if (this.#expiry === undefined) await this.#ensure();
      while (this.#unresolved.length > 0) {
        const entry = this.#unresolved[0] as Unresolved;
        const ids = await store.flaggedAt(entry.now, entry.ids);
        for (const id of ids) {
          const cause = typeof entry.causes === 'string' ? entry.causes : (entry.causes.get(id) ?? 'master_close');
          this.record(id, 'flagged_inactive', cause, undefined, entry.now.getTime());
        }
        this.#unresolved.shift();
      }
      while (this.#queue.length > 0) {
        const batch = this.#queue.slice(0, this.#options.maxPerInsert);
        await store.insert(batch);
        // Removed only now: events queued meanwhile stay behind the batch.
        this.#queue.splice(0, batch.length);
        metrics.written.inc(batch.length);
        metrics.pending.set(this.#queue.length);
      }
      if (this.#failing) logger.info({ pending: this.#queue.length }, 'worker events written again');
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) {
        logger.warn({ error: describeError(error), pending: this.#queue.length, max_pending: this.#options.maxPending }, 'could not write worker events; keeping them for the next try');
      }
      this.#failing = true;
    } finally {
      this.#logDropped();
    }
  }

  async #ensure(): Promise<void> {
    const { store, logger, ttlSeconds, clock, pruneIntervalMs } = this.#options;
    this.#expiry = await store.ensure(ttlSeconds);
    if (this.#expiry === 'prune' && this.#stopPrune === undefined && this.#stopped === undefined) {
      logger.info({ ttl_seconds: ttlSeconds, prune_interval_ms: pruneIntervalMs }, 'the database keeps no TTL index: expired worker events are deleted by the master');
      this.#stopPrune = every(clock, pruneIntervalMs, () => void this.prune());
      void this.prune();
    }
  }

  /** Deletes events older than the TTL, bounded (where the database keeps no TTL index). Resolves how many. */
  async prune(): Promise<number> {
    const { store, clock, ttlSeconds, logger, metrics } = this.#options;
    try {
      const deleted = await store.prune(new Date(clock.now() - ttlSeconds * 1_000), HISTORY_DEFAULTS.pruneLimit);
      if (deleted > 0) {
        metrics.pruned.inc(deleted);
        logger.info({ deleted }, 'expired worker events deleted');
      }
      return deleted;
    } catch (error) {
      logger.warn({ error: describeError(error) }, 'could not delete expired worker events; trying again at the next prune');
      return 0;
    }
  }

  #logDropped(): void {
    if (this.#droppedUnlogged === 0) return;
    this.#options.logger.warn({ dropped: this.#droppedUnlogged, max_pending: this.#options.maxPending }, 'worker events dropped: the queue was full');
    this.#droppedUnlogged = 0;
  }
}
