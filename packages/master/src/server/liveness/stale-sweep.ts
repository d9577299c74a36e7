import type { Logger } from 'pino';
import type { MasterMetrics } from '../../metrics/metrics.js';
import type { Clock } from '../clock.js';
import type { DbHealth } from '../db-health.js';
import type { RegistryPort, WriteHorizonPort } from '../ports.js';
import { MAX_STALE_WINDOW_SECONDS } from '../../registry/agent-path-operations.js';

/**
 * The sweep flags `last_heartbeat < cutoff`. last_heartbeat is whole seconds,
 * floored, of the flush that wrote it, so the beat it stands for happened
 * before (L + 1) s. With cutoff = floor((now - timeout) / 1000) - 1, a flagged
 * worker has L <= floor((now - timeout)/1000) - 2, hence (L + 1) s <
 * now - timeout - 1 s: its last beat is certainly older than the timeout, with
 * one more second to spare for clock skew between masters sharing a database
 * (last_heartbeat is the clock of whichever master wrote it).
 */
export function sweepCutoffSeconds(nowMs: number, timeoutMs: number): number {
  return Math.floor((nowMs - timeoutMs) / 1000) - 1;
}

/**
 * The sweep may run only once one timeout has passed since the master could
 * admit agents (its admission view loaded, not merely its start: a master that
 * listens but loads for seconds refuses every agent meanwhile, and they need
 * the whole timeout after it can take them) and since the database came back
 * after an outage: before that, workers that are alive may not have had their
 * heartbeat written yet (by this master or by another one that was cut off too).
 */
export function sweepAllowed(nowMs: number, admittingSinceMs: number, recoveredAtMs: number | undefined, timeoutMs: number): boolean {
  const since = Math.max(admittingSinceMs, recoveredAtMs ?? Number.NEGATIVE_INFINITY);
  return nowMs - since >= timeoutMs;
}

/**
 * Above this many admitted workers whose first heartbeat write has not landed,
 * a sweep waits for the next cycle instead of naming them all in its filter
 * (a reconnect storm is still being written; the next cycle writes them).
 */
export const MAX_SPARED_IN_FILTER = 5_000;

/**
 * A regular sweep names every active worker (a full sweep) at least this
 * often; in between, it names only the seconds its cutoff moved on by since
 * the last sweep, and one timeout more (see StaleSweeper.#windowStart).
 */
export const FULL_SWEEP_EVERY_MS = 60_000;

export interface StaleSweepOptions {
  registry: Pick<RegistryPort, 'sweepStale'>;
  clock: Clock;
  /**
   * Workers whose return is not in the database yet: admitted here with no
   * heartbeat write of theirs landed since (HeartbeatWriter.unwrittenAdmissions),
   * or admitted at the upgrade within the last timeout (RecentArrivals: an
   * agent that gave up waiting for its welcome in a storm and comes back). Their
   * agents are back, but the document still holds the last_heartbeat of the
   * silence before. A sweep spares them, so a worker flagged during a storm
   * (or not yet flagged) is not flagged again for the same silence while its
   * return is being written.
   */
  unwrittenAdmissions?: () => ReadonlySet<string>;
  health: DbHealth;
  metrics: MasterMetrics;
  logger: Logger;
  heartbeatTimeoutMs: number;
  /** Least time between two sweeps (less 10% for timer jitter). */
  intervalMs: number;
  /** A sweep written at `now` flagged `flagged` workers: the worker history's hook. */
  onSwept?: (now: Date, flagged: number) => void;
  /**
   * How far the other masters on this database have written heartbeats, and
   * this master's name there; `serving`: whether it holds any session (a
   * master with none has nobody to protect and publishes nothing);
   * `publishEveryMs`: least time between two publications while another
   * master is live, `aloneEveryMs` while none is (a master that starts reads
   * an older entry, which only makes its sweeps more careful, and from the
   * first sweep that sees it the lone one publishes at the faster rate).
   * Without it (unit tests with fake ports) a sweep judges by this master's
   * own write alone.
   */
  horizon?: { port: WriteHorizonPort; instanceId: string; serving: () => boolean; publishEveryMs: number; aloneEveryMs: number } | undefined;
}

/** Entries of masters not heard from for this long are deleted when a master stops cleanly. */
const FORGOTTEN_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * The database-side stale detection: one updateMany over every master's
 * workers, so a worker whose master died is flagged by the survivors. It is
 * called by the heartbeat writer at the end of a cycle whose writes succeeded,
 * never otherwise, so it never runs blind while heartbeats cannot be written.
 */
export class StaleSweeper {
  #lastRunMs = Number.NEGATIVE_INFINITY;
  /** Monotonic time of the first due sweep of the current run of deferrals (undefined: none deferred). */
  #deferredSinceMs: number | undefined;
  /** Monotonic time of this master's last publication on the write horizon; undefined: it has no entry there. */
  #publishedAtMs: number | undefined;
  /** Whether the last read of the horizon found another live master (assumed until the first read). */
  #othersLive = true;
  /** When the master started (monotonic, and wall clock): undefined until startNow(), and no sweep until then. */
  #started: { monotonicMs: number; wallMs: number } | undefined;
  /** Monotonic time from which the master could admit agents (view loaded): undefined until admittingSince(), and no regular sweep until then. */
  #admittingSinceMs: number | undefined;
  /**
   * Every worker active with last_heartbeat below this second (whole unix
   * seconds) was flagged by a sweep of this master that succeeded; undefined:
   * no regular sweep succeeded yet.
   */
  #coveredBelowS: number | undefined;
  /** Monotonic time of the last full regular sweep that succeeded. */
  #lastFullMs = Number.NEGATIVE_INFINITY;
  /** DbHealth.recoveredAtMs at the last sweep: a recovery since makes the next sweep full. */
  #recoveredAtSeenMs: number | undefined;
  /** Workers flagged by this master's sweeps so far (the fleet page's feed reads the registry again when it moves). */
  flaggedTotal = 0;

  constructor(private readonly options: StaleSweepOptions) {}

  /** The master has started now: the sweep at start judges from here. */
  startNow(): void {
    this.#started = { monotonicMs: this.options.clock.monotonic(), wallMs: this.options.clock.now() };
  }

  /**
   * The master can admit agents from `monotonicMs` (its admission view
   * loaded): the first regular sweep comes one heartbeat timeout after it.
   * Passed in, so that the master names the moment its view loaded.
   */
  admittingSince(monotonicMs: number): void {
    this.#admittingSinceMs ??= monotonicMs;
  }

  /** Monotonic time from which the master could admit (undefined: not yet). */
  get admittingSinceMs(): number | undefined {
    return this.#admittingSinceMs;
  }

  /**
   * Flags the workers whose last heartbeat was older than the timeout already
   * when this master started: no master was writing their heartbeats (one that
   * serves a worker keeps its last_heartbeat fresh), so they are connected
   * nowhere. Runs once, before admissions open, so it cannot catch a worker
   * that reconnects to this master; workers whose heartbeat is younger than
   * the timeout (a quick restart) wait for the regular sweep as before.
   */
  async sweepAtStart(): Promise<void> {
    const { clock, heartbeatTimeoutMs } = this.options;
    if (this.#started === undefined) return;
    const cutoff = sweepCutoffSeconds(await this.#judgedAsOf(this.#started.wallMs, clock.now()), heartbeatTimeoutMs);
    const now = new Date(clock.now());
    const flagged = await this.options.registry.sweepStale(cutoff, now);
    this.options.health.success('sweep');
    this.options.onSwept?.(now, flagged);
    this.flaggedTotal += flagged;
    if (flagged > 0) {
      this.options.metrics.workersFlaggedInactive.inc({ cause: 'sweep' }, flagged);
      this.options.logger.info({ cause: 'sweep', at_start: true, count: flagged, cutoff }, 'workers flagged inactive');
    }
  }

  /**
   * Runs the sweep if it is due and allowed; throws what the database threw.
   * `writtenAsOfMs`: the master-clock time of the heartbeat write this sweep
   * follows. The cutoff is taken from it, not from now: when a write takes
   * longer than the timeout (a slow database), every live worker's
   * last_heartbeat is older than now - timeout, but not older than that write.
   * Another master may be behind in the same way: the cutoff is taken from the
   * oldest write of the masters on the write horizon, if that is older.
   */
  async maybeSweep(writtenAsOfMs?: number): Promise<void> {
    const { clock, health, heartbeatTimeoutMs, horizon } = this.options;
    if (this.#started === undefined) return;
    if (horizon !== undefined && writtenAsOfMs !== undefined) await this.#publish(horizon, writtenAsOfMs);
    if (this.#admittingSinceMs === undefined) return;
    const mono = clock.monotonic();
    // 10% slack: cycles end at jittery times, and a sweep every flush at a
    // 1 s flush and 1 s interval must not turn into one every other flush.
    if (mono - this.#lastRunMs < this.options.intervalMs * 0.9) return;
    if (!sweepAllowed(mono, this.#admittingSinceMs, health.recoveredAtMs, heartbeatTimeoutMs)) return;
    const spared = [...(this.options.unwrittenAdmissions?.() ?? [])];
    if (spared.length > MAX_SPARED_IN_FILTER) {
      // Said once per run of deferrals, so that a sweep that never runs is not silent, nor a log flood.
      this.options.metrics.sweepsDeferred.inc();
      if (this.#deferredSinceMs === undefined) {
        this.#deferredSinceMs = mono;
        this.options.logger.info({ unwritten: spared.length, limit: MAX_SPARED_IN_FILTER }, 'stale sweep deferred: returned workers not written yet');
      }
      return;
    }
    if (this.#deferredSinceMs !== undefined) {
      this.options.logger.info({ deferred_ms: Math.round(mono - this.#deferredSinceMs) }, 'stale sweep resumed');
      this.#deferredSinceMs = undefined;
    }
    this.#lastRunMs = mono;
    const nowMs = clock.now();
    const end = this.options.metrics.sweepDuration.startTimer();
    let cutoff: number;
    let flagged: number;
    let since: number | undefined;
    try {
      cutoff = sweepCutoffSeconds(await this.#judgedAsOf(Math.min(writtenAsOfMs ?? nowMs, nowMs), nowMs), heartbeatTimeoutMs);
      since = this.#windowStart(mono, cutoff);
      flagged = await this.options.registry.sweepStale(cutoff, new Date(nowMs), spared, since);
    } catch (error) {
      end();
      this.options.metrics.dbWriteErrors.inc({ op: 'sweep' });
      throw error;
    }
    end();
    if (since === undefined) this.#lastFullMs = mono;
    this.#coveredBelowS = Math.max(this.#coveredBelowS ?? cutoff, cutoff);
    this.#recoveredAtSeenMs = health.recoveredAtMs;
    health.success('sweep');
    this.options.onSwept?.(new Date(nowMs), flagged);
    this.flaggedTotal += flagged;
    if (flagged > 0) {
      this.options.metrics.workersFlaggedInactive.inc({ cause: 'sweep' }, flagged);
      this.options.logger.info({ cause: 'sweep', count: flagged, cutoff }, 'workers flagged inactive');
    }
  }

  /**
   * Where this sweep's window starts, or undefined for a full sweep. A worker
   * becomes active only by a heartbeat write, which gives it a last_heartbeat
   * of that write: never below a cutoff already swept, since a cutoff is a
   * timeout and a second older than this master's write and than every live
   * master's published one (#judgedAsOf), and a write's second is not older
   * than its master's last publication. So an active worker below the last
   * cutoff swept was flagged then, or spared: back at this master, which
   * writes its heartbeat or flags it when its session ends (another master's
   * sweeps do not spare it, and a master that starts sweeps in full), and the
   * next sweep need only name the seconds from it to its own cutoff: on the
   * dev database an equality list on last_heartbeat reads a few rows through
   * its index, where the full filter reads every active document (docs/
   * DESIGN.md, "Stale sweep by windows"). The window reaches one more timeout
   * below the last cutoff swept, for a write that breaks the rule by less
   * (a master's clock behind by more than the second to spare, a write held
   * up longer than the timeout by a master that had not published yet): its
   * workers are flagged by the sweep that would have flagged them without
   * windows. Full: the first regular sweep, after the database came back, a window wider than
   * MAX_STALE_WINDOW_SECONDS, and at least every FULL_SWEEP_EVERY_MS, for
   * what came in by other ways (a restored backup, a hand edit, a clock set back).
   */
  #windowStart(mono: number, cutoff: number): number | undefined {
    const covered = this.#coveredBelowS;
    if (covered === undefined) return undefined;
    if (this.options.health.recoveredAtMs !== this.#recoveredAtSeenMs) return undefined;
    if (mono - this.#lastFullMs >= FULL_SWEEP_EVERY_MS) return undefined;
    const since = Math.max(0, covered - Math.ceil(this.options.heartbeatTimeoutMs / 1000));
    if (cutoff - since > MAX_STALE_WINDOW_SECONDS) return undefined;
    return since;
  }

  /**
   * After a successful write, due sweep or not: the other masters' sweeps
   * judge by it, and a write that turns out slow cannot announce itself
   * while it waits. A master that serves nobody withdraws its entry, so that
   * its last write does not hold the others back for a timeout.
   */
  async #publish(horizon: NonNullable<StaleSweepOptions['horizon']>, writtenAsOfMs: number): Promise<void> {
    const mono = this.options.clock.monotonic();
    if (!horizon.serving()) {
      if (this.#publishedAtMs === undefined) return;
      await horizon.port.withdraw(horizon.instanceId, this.options.clock.now() - FORGOTTEN_AFTER_MS, this.options.clock.now());
      this.#publishedAtMs = undefined;
      return;
    }
    const every = this.#othersLive ? horizon.publishEveryMs : horizon.aloneEveryMs;
    if (this.#publishedAtMs !== undefined && mono - this.#publishedAtMs < every) return;
    await horizon.port.publish(horizon.instanceId, writtenAsOfMs, this.options.clock.now());
    this.#publishedAtMs = mono;
  }

  /**
   * The time a sweep judges last_heartbeat against: this master's own write,
   * or the oldest write of another master heard from within the timeout, if older.
   */
  async #judgedAsOf(ownMs: number, nowMs: number): Promise<number> {
    const { horizon, heartbeatTimeoutMs } = this.options;
    if (horizon === undefined) return ownMs;
    const others = await horizon.port.othersLive(nowMs - heartbeatTimeoutMs, horizon.instanceId);
    this.#othersLive = others.count > 0;
    return others.oldestWrittenAsOfMs === undefined ? ownMs : Math.min(ownMs, others.oldestWrittenAsOfMs);
  }

  /** A clean stop: this master no longer holds the others' sweeps back. Best effort (the entry ages out anyway). */
  async withdraw(): Promise<void> {
    const { horizon, clock, logger } = this.options;
    if (horizon === undefined) return;
    try {
      await horizon.port.withdraw(horizon.instanceId, clock.now() - FORGOTTEN_AFTER_MS, clock.now());
    } catch (error) {
      logger.warn({ error: error instanceof Error ? error.message : String(error) }, 'could not withdraw this master from the write horizon; it ages out after one heartbeat timeout');
    }
  }
}
