import type { Specs } from '@cluster/protocol';
import type { Logger } from 'pino';
import { workerToJson } from '../../registry/worker-json.js';
import type { Worker } from '../../registry/worker.js';
import { every, unixSeconds, type Clock } from '../clock.js';
import { fleetState, type FleetState } from './fleet-state.js';

/** What this master knows without asking the database: the workers connected to it now. */
export interface LocalFleet {
  heldWorkerIds(): Iterable<string>;
  specsOf(workerId: string): Specs | undefined;
}

export interface FleetSnapshot {
  /** Epoch ms of the refresh that produced it (the page's ages count from the master's clock). */
  at: number;
  workers: ReturnType<typeof workerToJson>[];
}

export type FleetListener = (snapshot: FleetSnapshot) => void;

export interface FleetFeedDeps {
  source: { getAllWorkers(): Promise<Worker[]> };
  local: LocalFleet;
  clock: Clock;
  logger: Logger;
  /** How often the database is read while anyone listens. */
  intervalMs: number;
}

/** A worker this master lost, shown inactive until the database says so (or says it is back elsewhere). */
const DROP_MEMORY_MS = 60_000;

/**
 * The whole registry as the open pages see it, refreshed by one timer for all
 * of them: one database read per refresh whatever the number of listeners,
 * with this master's own sessions laid over it (a worker that connects here
 * is active at once, one that drops here is inactive before the write that
 * says so lands). The timer runs only while someone listens; listeners hear
 * only snapshots that differ from the last one.
 */
export class FleetFeed {
  readonly #listeners = new Set<FleetListener>();
  #stop: (() => void) | undefined;
  #inFlight: Promise<void> | undefined;
  #last: FleetSnapshot | undefined;
  #lastKey = '';
  /** The counts of the last successful read, and when (monotonic ms) it was: what /metrics reports. */
  #state: { state: FleetState; readAtMonotonic: number } | undefined;
  #held = new Set<string>();
  readonly #dropped = new Map<string, number>();
  /** Database reads so far (what the cost test counts). */
  reads = 0;

  constructor(private readonly deps: FleetFeedDeps) {}

  get listeners(): number {
    return this.#listeners.size;
  }

  /** Adds a listener; it gets the current snapshot at once (or after the first read). Returns the unsubscribe. */
  subscribe(listener: FleetListener): () => void {
    this.#listeners.add(listener);
    if (this.#last !== undefined) listener(this.#last);
    if (this.#stop === undefined) {
      this.#stop = every(this.deps.clock, this.deps.intervalMs, () => void this.refresh());
      if (this.#last === undefined) void this.refresh();
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
  }

  /** One database read, shared by every caller while it runs. */
  refresh(): Promise<void> {
    this.#inFlight ??= this.#read().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  /**
   * The registry's counts for a scrape: those of the last read when it is no
   * older than `maxAgeMs` (a page open, or another scrape just now), else a
   * fresh read, waited for at most `waitMs` (a slow or absent database must not
   * make /metrics time out; the last counts are reported then, with their age).
   * Undefined until a read succeeded.
   */
  async stateForScrape(maxAgeMs: number, waitMs: number): Promise<{ state: FleetState; ageMs: number } | undefined> {
    const { clock } = this.deps;
    const fresh = (): boolean => this.#state !== undefined && clock.monotonic() - this.#state.readAtMonotonic <= maxAgeMs;
    if (!fresh()) {
      let timer: ReturnType<Clock['setTimeout']> | undefined;
      const waited = new Promise<void>((resolve) => {
        timer = clock.setTimeout(resolve, waitMs);
        timer.unref();
      });
      await Promise.race([this.refresh(), waited]);
      clock.clearTimeout(timer);
    }
    if (this.#state === undefined) return undefined;
    return { state: this.#state.state, ageMs: clock.monotonic() - this.#state.readAtMonotonic };
  }

  async #read(): Promise<void> {
    this.reads += 1;
    let workers: Worker[];
    try {
      workers = await this.deps.source.getAllWorkers();
    } catch (error) {
      this.deps.logger.warn({ error: error instanceof Error ? error.message : String(error) }, 'fleet view not refreshed: database unavailable');
      return;
    }
    const overlaid = this.#overlay(workers);
    this.#state = { state: fleetState(overlaid, this.deps.clock.now()), readAtMonotonic: this.deps.clock.monotonic() };
    const snapshot: FleetSnapshot = { at: this.deps.clock.now(), workers: overlaid.map(workerToJson) };
    const key = JSON.stringify(snapshot.workers);
    if (key === this.#lastKey) return;
    this.#lastKey = key;
    this.#last = snapshot;
    for (const listener of this.#listeners) listener(snapshot);
  }

  #overlay(workers: Worker[]): Worker[] {
    const nowMs = this.deps.clock.now();
    const held = new Set(this.deps.local.heldWorkerIds());
    for (const id of this.#held) if (!held.has(id)) this.#dropped.set(id, nowMs);
    for (const id of held) this.#dropped.delete(id);
    this.#held = held;
    return workers.map((worker) => {
      if (held.has(worker.worker_id)) {
        const specs = this.deps.local.specsOf(worker.worker_id);
        return { ...worker, is_active: true, ...(specs ?? {}) };
      }
      const droppedAt = this.#dropped.get(worker.worker_id);
      if (droppedAt === undefined) return worker;
      // The database caught up (inactive), or the worker beat since we lost it (another master holds it).
      if (!worker.is_active || worker.last_heartbeat > unixSeconds(droppedAt) || nowMs - droppedAt > DROP_MEMORY_MS) {
        this.#dropped.delete(worker.worker_id);
        return worker;
      }
      return { ...worker, is_active: false };
    });
  }
}
