import { sameSpecs, type Specs } from '@cluster/protocol';
import type { Logger } from 'pino';
import { workerToJson } from '../../registry/worker-json.js';
import type { Worker } from '../../registry/worker.js';
import { FullReadSchedule, QUIET_FULL_READ_FACTOR, type ServingMasters } from '../../registry/full-read-cadence.js';
import { every, unixSeconds, type Clock } from '../clock.js';
import { fleetState, type FleetState } from './fleet-state.js';

/** What this master knows without asking the database: the workers connected to it now. */
export interface LocalFleet {
  heldWorkerIds(): Iterable<string>;
  specsOf(workerId: string): Specs | undefined;
  /**
   * A number that moves whenever the held workers or their specs may have
   * changed (sessions claimed or released, specs set, the admission view
   * re-read). Unmoved since the last tick: the held workers are not listed
   * and compared again (the whole session table each second, at 10,000
   * agents the feed's largest cost). Absent: listed every tick.
   */
  changes?(): number;
}

/** Workers whose heartbeat moved to the same values (one write of this master moves thousands at once). */
export interface BeatGroup {
  last_heartbeat: number;
  /** ISO 8601, or null for a date out of range (as workerToJson writes it). */
  updated_at: string | null;
  worker_ids: string[];
}

export interface FleetSnapshot {
  /** Counts the snapshots of one feed: a listener tells by it which one it had last. */
  seq: number;
  /** Epoch ms of the refresh that produced it (the page's ages count from the master's clock). */
  at: number;
  workers: ReturnType<typeof workerToJson>[];
  /**
   * Set when this snapshot differs from snapshot `afterSeq` in heartbeats
   * alone (last_heartbeat and updated_at of the workers named): a listener
   * that has that one may send this instead of the whole fleet (the steady
   * state at 10,000 agents: every row's heartbeat moves, nothing else).
   */
  beats?: { afterSeq: number; groups: BeatGroup[] };
}

export type FleetListener = (snapshot: FleetSnapshot) => void;

export interface FleetFeedDeps {
  source: { getAllWorkers(): Promise<Worker[]> };
  local: LocalFleet;
  /**
   * The admission version (admission-version.ts): every register, update,
   * unregister and token change of the admin tools sets a new one. Read at
   * each tick (one find by _id); a new one makes the next tick read the
   * whole registry. Without it, those changes wait for the full read.
   */
  version?: { read(): Promise<string | null> };
  clock: Clock;
  logger: Logger;
  /** How often this master's own changes (sessions, heartbeats it wrote) and the admission version are looked at while anyone listens. */
  intervalMs: number;
  /** How often the whole registry is read while anyone listens and another master serves (or served lately): what they changed shows within this. */
  fullReadMs: number;
  /**
   * How many other masters published on the write horizon since a time (they
   * serve workers, so they write heartbeats and flags this master does not
   * know of). None lately: the periodic full read waits `quietFullReadMs`.
   * Absent: every `fullReadMs`.
   */
  otherMasters?: ServingMasters;
  /** How often the whole registry is read while no other master serves (writes from outside this package). Default 10 × fullReadMs. */
  quietFullReadMs?: number;
  /** Workers this master's stale sweep flagged so far (a count that only grows): when it moves, the next tick reads the registry (the sweep's workers are not held here, and not named). */
  sweptFlags?: () => number;
  /** Full reads asked for by a change (admission version, an inventory written here) are at least this far apart. */
  minFullReadGapMs?: number;
}

/** A worker this master lost, shown inactive until the database says so (or says it is back elsewhere). */
const DROP_MEMORY_MS = 60_000;
const DEFAULT_MIN_FULL_READ_GAP_MS = 2_000;
/**
 * A snapshot whose only news is heartbeats goes out at most this often: with
 * 10,000 agents here every tick has some (a snapshot is the whole fleet, about
 * 2.5 MB of JSON per page), and the page counts ages by itself between them.
 * Any other change goes out at the next tick, with the heartbeats since.
 */
export const BEATS_ONLY_EVERY_MS = 5_000;

/** A heartbeat write of this master that landed: the same record for every worker it wrote. */
interface OwnBeat {
  second: number;
  at: Date;
  /** `at` as workerToJson writes it. */
  iso: string | null;
  /** `second|at`, as Row.beat. */
  beat: string;
}

/** As workerToJson writes a date: ISO 8601, null out of range. */
function isoOrNull(date: Date): string | null {
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

interface Row {
  worker: Worker;
  json: ReturnType<typeof workerToJson>;
  /** The JSON text of `json` less last_heartbeat and updated_at: what tells a change. */
  key: string;
  /** last_heartbeat and updated_at: a heartbeat alone. */
  beat: string;
  /** The seq of the snapshot before the one this row's heartbeat moved for (it is in #movedRows then); undefined: not moved, or replaced by a newer row. */
  movedSince?: number | undefined;
}

/**
 * The whole registry as the open pages see it, kept by one timer for all of
 * them, at a cost that follows what changed rather than the fleet's size:
 *
 * - this master's own sessions are laid over the last read at every tick (a
 *   worker that connects here is active at once, one that drops here is
 *   inactive before the write that says so lands), with the heartbeats this
 *   master wrote (`heartbeatsWritten`, after each write that landed);
 * - the admission version is read at every tick (one find by _id): a
 *   registration, an update, an unregistration shows at the next tick;
 * - the whole registry is read every `fullReadMs` while another master
 *   serves workers, or served within two such periods (the write horizon
 *   says; full-read-cadence.ts), else every `quietFullReadMs` (tools outside
 *   this package); and soon after an inventory was written here or this
 *   master's sweep flagged workers. A lone master knows every other change
 *   itself.
 *
 * At 10,000 workers a full read costs the dev database about a CPU-second;
 * one a second (as before) took most of a core while a page was open. The
 * timer runs only while someone listens; listeners hear only snapshots that
 * differ from the last one.
 */
export class FleetFeed {
  readonly #listeners = new Set<FleetListener>();
  #stop: (() => void) | undefined;
  #inFlight: Promise<void> | undefined;
  #ticking = false;
  #last: FleetSnapshot | undefined;
  /** The registry as last read whole, by worker_id; undefined before the first read that succeeded. */
  #db: Map<string, Worker> | undefined;
  /** Monotonic ms the last full read that succeeded started, and the admission version read before it. */
  #readStartedAtMonotonic = Number.NEGATIVE_INFINITY;
  #versionAtRead: string | null | undefined;
  /** A change asked for a full read (the admission version moved, an inventory was written here, the sweep flagged workers). */
  #fullReadWanted = false;
  readonly #schedule: FullReadSchedule;
  #sweptSeen: number | undefined;
  /** The rows the listeners were last given (overlaid), by worker_id, and their order (undefined: to sort again). */
  readonly #rows = new Map<string, Row>();
  #order: string[] | undefined;
  #orderedRows: Row[] | undefined;
  #changed = false;
  /** Rows changed by heartbeats alone since the last snapshot (published at most every BEATS_ONLY_EVERY_MS). */
  #beatsChanged = false;
  /** Which rows those are (each once: marked with movedSince): the beats of the next snapshot when nothing else changed. */
  #movedRows: Row[] = [];
  #seq = 0;
  /** Monotonic ms of the last snapshot. */
  #publishedAtMonotonic = Number.NEGATIVE_INFINITY;
  #held = new Set<string>();
  /** `local.changes()` when #held was last listed. */
  #heldAt: number | undefined;
  readonly #dropped = new Map<string, number>();
  /** The newest last_heartbeat this master wrote (and the write landed) for workers held or lately dropped here. */
  readonly #ownBeats = new Map<string, OwnBeat>();
  /** Workers whose row must be worked out again at the next tick. */
  readonly #touched = new Set<string>();
  /**
   * Heartbeat writes of this master that landed since the last tick, as the
   * writer told them (its arrays, not changed after): their rows' two
   * timestamps move at the tick, nothing else is worked out. Kept whole, so
   * that telling costs nothing per worker.
   */
  #beaten: { workerIds: readonly string[]; own: OwnBeat }[] = [];
  /** Full database reads so far (what the cost tests count). */
  reads = 0;
  /** Admission version reads so far. */
  versionReads = 0;

  constructor(private readonly deps: FleetFeedDeps) {
    this.#schedule = new FullReadSchedule(
      {
        fullReadMs: deps.fullReadMs,
        quietFullReadMs: deps.otherMasters === undefined ? deps.fullReadMs : (deps.quietFullReadMs ?? QUIET_FULL_READ_FACTOR * deps.fullReadMs),
      },
      deps.otherMasters,
      deps.clock,
    );
    this.#sweptSeen = deps.sweptFlags?.();
  }

  /** Write horizon reads so far. */
  get horizonReads(): number {
    return this.#schedule.asks;
  }

  get listeners(): number {
    return this.#listeners.size;
  }

  /** Adds a listener; it gets the current snapshot at once (or after the first read). Returns the unsubscribe. */
  subscribe(listener: FleetListener): () => void {
    this.#listeners.add(listener);
    if (this.#last !== undefined) listener(this.#last);
    if (this.#stop === undefined) {
      this.#stop = every(this.deps.clock, this.deps.intervalMs, () => void this.#tick());
      // Nobody listened: the last read may be old, and this master's own writes were not followed.
      if (!this.#fresh(this.deps.fullReadMs)) void this.refresh();
      else void this.#tick();
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.close();
    };
  }

  /** Stops the timer (the last listener left, or the master closes). */
  close(): void {
    this.#stop?.();
    this.#stop = undefined;
    this.#ownBeats.clear();
    this.#beaten = [];
  }

  /** A heartbeat write of this master landed: these workers' last_heartbeat is `second` in the registry now. */
  heartbeatsWritten(workerIds: readonly string[], second: number, at: Date): void {
    if (this.#stop === undefined) return;
    // One write of thousands of workers: one record shared by all of them, its text forms worked out once.
    const own: OwnBeat = { second, at, iso: isoOrNull(at), beat: `${second}|${at.getTime()}` };
    this.#beaten.push({ workerIds, own });
  }

  /** An inventory write of this master landed: read the registry at the next tick (inventories are rare, and not kept here). */
  inventoriesWritten(): void {
    this.#fullReadWanted = true;
  }

  /** One full database read, shared by every caller while it runs. */
  refresh(): Promise<void> {
    this.#inFlight ??= this.#read().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  /**
   * The registry's counts for a scrape: from the feed's view while a page
   * listens (it reads as often as its cadence says: a scrape adds no read, so
   * a lone master's page and Prometheus together still read the registry
   * only every quiet period), else from the last full read (with this
   * master's own sessions laid over it) when it is no older than `maxAgeMs`
   * (another scrape just now), else a fresh read, waited for
   * at most `waitMs` (a slow or absent database must not make /metrics time
   * out; the last counts are reported then, with their age). Undefined until
   * a read succeeded.
   */
  async stateForScrape(maxAgeMs: number, waitMs: number): Promise<{ state: FleetState; ageMs: number } | undefined> {
    const { clock } = this.deps;
    const live = this.#stop !== undefined && this.#db !== undefined;
    if (!live && !this.#fresh(maxAgeMs)) {
      let timer: ReturnType<Clock['setTimeout']> | undefined;
      const waited = new Promise<void>((resolve) => {
        timer = clock.setTimeout(resolve, waitMs);
        timer.unref();
      });
      await Promise.race([this.refresh(), waited]);
      clock.clearTimeout(timer);
    }
    if (this.#db === undefined) return undefined;
    this.#applyLocal();
    const workers = [...this.#rows.values()].map((row) => row.worker);
    const asOf = live ? Math.max(this.#readStartedAtMonotonic, this.#schedule.quietAsOfMs) : this.#readStartedAtMonotonic;
    return { state: fleetState(workers, clock.now()), ageMs: clock.monotonic() - asOf };
  }

  #fresh(maxAgeMs: number): boolean {
    return this.#db !== undefined && this.deps.clock.monotonic() - this.#readStartedAtMonotonic <= maxAgeMs;
  }

  /** One tick: the admission version, then a full read if one is due, else this master's own changes. */
  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      let version: string | null | undefined;
      if (this.deps.version !== undefined && this.#db !== undefined) {
        try {
          this.versionReads += 1;
          version = await this.deps.version.read();
          if (version !== this.#versionAtRead) this.#fullReadWanted = true;
        } catch (error) {
          this.deps.logger.debug({ error: error instanceof Error ? error.message : String(error) }, 'fleet view: admission version not read');
        }
      }
      const swept = this.deps.sweptFlags?.();
      if (swept !== this.#sweptSeen) this.#fullReadWanted = true;
      this.#sweptSeen = swept;
      const sinceRead = this.deps.clock.monotonic() - this.#readStartedAtMonotonic;
      const gap = this.deps.minFullReadGapMs ?? DEFAULT_MIN_FULL_READ_GAP_MS;
      if ((this.#fullReadWanted && sinceRead >= gap) || (await this.#schedule.due())) {
        await this.refresh();
      } else {
        this.#applyLocal();
        this.#publish();
      }
    } finally {
      this.#ticking = false;
    }
  }

  async #read(): Promise<void> {
    this.reads += 1;
    const startedAt = this.deps.clock.monotonic();
    // The version before the read: a change that lands during it moves the version again, and is read next time.
    let version = this.#versionAtRead;
    if (this.deps.version !== undefined) {
      try {
        version = await this.deps.version.read();
      } catch {
        // The read below fails too, or the next tick's version read tells.
      }
    }
    let workers: Worker[];
    try {
      workers = await this.deps.source.getAllWorkers();
    } catch (error) {
      this.deps.logger.warn({ error: error instanceof Error ? error.message : String(error) }, 'fleet view not refreshed: database unavailable');
      return;
    }
    const before = this.#db ?? new Map<string, Worker>();
    this.#db = new Map(workers.map((worker) => [worker.worker_id, worker]));
    this.#readStartedAtMonotonic = startedAt;
    this.#schedule.readAt(startedAt);
    this.#versionAtRead = version;
    this.#fullReadWanted = false;
    for (const id of before.keys()) this.#touched.add(id);
    for (const id of this.#db.keys()) this.#touched.add(id);
    this.#applyLocal();
    this.#publish();
  }

  /** Lays this master's sessions and writes over the last read: only the rows they touch are worked out again. */
  #applyLocal(): void {
    if (this.#db === undefined) return;
    const nowMs = this.deps.clock.now();
    const changes = this.deps.local.changes?.();
    if (changes === undefined || changes !== this.#heldAt) this.#listHeld(nowMs);
    this.#heldAt = changes;
    const held = this.#held;
    for (const [id, droppedAt] of this.#dropped) {
      if (nowMs - droppedAt > this.#dropMemoryMs) this.#touched.add(id);
    }
    // In the order written: a later write of a worker wins.
    for (const { workerIds, own } of this.#beaten) {
      for (const id of workerIds) {
        this.#ownBeats.set(id, own);
        if (!this.#touched.has(id) && !this.#moveBeat(id, own, held)) this.#touched.add(id);
      }
    }
    this.#beaten = [];
    for (const id of this.#touched) this.#refreshRow(id, held, nowMs);
    this.#touched.clear();
  }

  /** Who is held here now, against who was: the ones that came, went or changed specs are touched. */
  #listHeld(nowMs: number): void {
    const held = new Set(this.deps.local.heldWorkerIds());
    for (const id of this.#held) {
      if (held.has(id)) continue;
      this.#dropped.set(id, nowMs);
      this.#touched.add(id);
    }
    for (const id of held) {
      if (this.#dropped.delete(id) || !this.#held.has(id)) {
        this.#touched.add(id);
        continue;
      }
      // Specs arrive with a hello (and change with a driver update): compared here, a few field reads each.
      const specs = this.deps.local.specsOf(id);
      const shown = this.#rows.get(id)?.worker;
      if (specs !== undefined && shown !== undefined && !sameSpecs(specs, shown)) this.#touched.add(id);
    }
    this.#held = held;
  }

  /**
   * The heartbeat path (every beat of every worker held here, each flush): the
   * row's last_heartbeat and updated_at take this master's write when it is
   * newer, without the overlay, the JSON form and the change key worked out
   * again. False when the row needs the whole work (none yet, or a worker
   * neither held nor dropped here: its row is the database's).
   */
  #moveBeat(id: string, own: OwnBeat, held: ReadonlySet<string>): boolean {
    const row = this.#rows.get(id);
    if (row === undefined || (!held.has(id) && !this.#dropped.has(id))) return false;
    if (own.second <= row.worker.last_heartbeat) return true;
    // In place: both are this feed's own copies (the overlay of a held or dropped worker). A
    // snapshot already sent holds the same json objects, but its bytes were serialised when sent.
    row.worker.last_heartbeat = own.second;
    row.worker.updated_at = own.at;
    row.json.last_heartbeat = own.second;
    row.json.updated_at = own.iso;
    row.beat = own.beat;
    this.#moved(row);
    return true;
  }

  #refreshRow(id: string, held: ReadonlySet<string>, nowMs: number): void {
    const stored = this.#db?.get(id);
    if (stored === undefined) {
      this.#dropped.delete(id);
      this.#ownBeats.delete(id);
      if (this.#rows.delete(id)) this.#membershipChanged();
      return;
    }
    const worker = this.#overlay(stored, held, nowMs);
    const json = workerToJson(worker);
    const { last_heartbeat: _beat, updated_at: _updated, ...rest } = json;
    const key = JSON.stringify(rest);
    const beat = `${worker.last_heartbeat}|${worker.updated_at.getTime()}`;
    const row = this.#rows.get(id);
    if (row?.key === key && row.beat === beat) {
      row.worker = worker;
      return;
    }
    if (row === undefined) this.#membershipChanged();
    else row.movedSince = undefined;
    this.#orderedRows = undefined;
    const fresh: Row = { worker, json, key, beat, movedSince: undefined };
    if (row?.key === key) this.#moved(fresh);
    else this.#changed = true;
    this.#rows.set(id, fresh);
  }

  #overlay(stored: Worker, held: ReadonlySet<string>, nowMs: number): Worker {
    const id = stored.worker_id;
    const own = this.#ownBeats.get(id);
    const beat = own !== undefined && own.second > stored.last_heartbeat ? { last_heartbeat: own.second, updated_at: own.at } : {};
    if (held.has(id)) {
      const specs = this.deps.local.specsOf(id);
      return { ...stored, ...beat, is_active: true, ...(specs ?? {}) };
    }
    const droppedAt = this.#dropped.get(id);
    if (droppedAt === undefined) {
      this.#ownBeats.delete(id);
      return stored;
    }
    // The database caught up (inactive), or the worker beat since we lost it (another master holds it).
    if (!stored.is_active || stored.last_heartbeat > unixSeconds(droppedAt) || nowMs - droppedAt > this.#dropMemoryMs) {
      this.#dropped.delete(id);
      this.#ownBeats.delete(id);
      return stored;
    }
    return { ...stored, ...beat, is_active: false };
  }

  /** Long enough for a full read to follow the write of the drop (it may be in flight when the worker drops), at either cadence. */
  get #dropMemoryMs(): number {
    return Math.max(DROP_MEMORY_MS, 2 * this.#schedule.cadenceMs.quietFullReadMs);
  }

  /** The row's heartbeat moved since the last snapshot (listed once). */
  #moved(row: Row): void {
    this.#beatsChanged = true;
    if (row.movedSince === this.#seq) return;
    row.movedSince = this.#seq;
    this.#movedRows.push(row);
  }

  #membershipChanged(): void {
    this.#order = undefined;
    this.#orderedRows = undefined;
    this.#changed = true;
  }

  #publish(): void {
    const mono = this.deps.clock.monotonic();
    const beatsDue = this.#beatsChanged && mono - this.#publishedAtMonotonic >= BEATS_ONLY_EVERY_MS;
    if (!this.#changed && !beatsDue && this.#last !== undefined) return;
    const last = this.#last;
    const beats = this.#changed || last === undefined ? undefined : { afterSeq: last.seq, groups: this.#beatGroups() };
    this.#changed = false;
    this.#beatsChanged = false;
    // The marks of these rows name this seq, which ends here: none needs clearing.
    this.#movedRows = [];
    this.#publishedAtMonotonic = mono;
    this.#order ??= [...this.#rows.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    // The rows in order, kept while no row is replaced: a snapshot of heartbeats alone looks up no row.
    this.#orderedRows ??= this.#order.flatMap((id) => this.#rows.get(id) ?? []);
    const workers = this.#orderedRows.map((row) => row.json);
    this.#seq += 1;
    const snapshot: FleetSnapshot = { seq: this.#seq, at: this.deps.clock.now(), workers, ...(beats === undefined ? {} : { beats }) };
    this.#last = snapshot;
    for (const listener of this.#listeners) listener(snapshot);
  }

  /** The rows moved by heartbeats alone since the last snapshot, grouped by their two new values (a few groups: one per write). */
  #beatGroups(): BeatGroup[] {
    const groups = new Map<string, BeatGroup>();
    for (const row of this.#movedRows) {
      // Replaced by a newer row since it moved (that one is listed too, if its heartbeat moved).
      if (row.movedSince !== this.#seq) continue;
      const id = row.worker.worker_id;
      const group = groups.get(row.beat);
      if (group !== undefined) group.worker_ids.push(id);
      else groups.set(row.beat, { last_heartbeat: row.json.last_heartbeat as number, updated_at: row.json.updated_at as string | null, worker_ids: [id] });
    }
    return [...groups.values()];
  }
}

