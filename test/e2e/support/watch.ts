import { MongoClient, type Collection } from 'mongodb';

/** The fields of a WORKER_REGISTRY document the scenarios look at. */
export interface WorkerDoc {
  worker_id: string;
  worker_ip: string;
  total_cpu: number;
  total_memory: number;
  total_storage: number;
  total_gpu: number;
  is_active: boolean;
  last_heartbeat: number;
  registered_at: Date;
  updated_at: Date;
}

export interface Sample {
  /** performance.now() when the query was sent / its answer arrived. */
  sentMs: number;
  recvMs: number;
  docs: ReadonlyMap<string, WorkerDoc>;
}

/** `absent`: no document (never registered, or unregistered). */
export type ActiveState = boolean | 'absent';

/**
 * A change of a worker's is_active seen between two polls: it happened after
 * `earliestMs` (when the previous poll that saw the old state was sent) and
 * before `detectedMs` (when the poll that saw the new state was answered).
 */
export interface Transition {
  workerId: string;
  from: ActiveState;
  to: ActiveState;
  earliestMs: number;
  detectedMs: number;
  lastHeartbeat: number | undefined;
}

/**
 * Watches the registry by polling it (every `intervalMs`, one find on the
 * workers of interest) and records every transition of is_active with its
 * time, so that "never flagged inactive" is checked across a whole gap, not
 * at one instant. Failed polls (the database is down) are counted, not fatal.
 */
export class RegistryWatch {
  readonly transitions: Transition[] = [];
  readonly failures: { sentMs: number; recvMs: number; message: string }[] = [];
  samples = 0;
  latest: Sample | undefined;
  readonly #collection: Collection<WorkerDoc>;
  readonly #state = new Map<string, { state: ActiveState; seenAtMs: number }>();
  readonly #listeners = new Set<(s: Sample) => void>();
  #running = false;
  #loop: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;

  private constructor(
    private readonly client: MongoClient,
    database: string,
    readonly workerIds: readonly string[],
    private readonly intervalMs: number,
  ) {
    this.#collection = client.db(database).collection<WorkerDoc>('WORKER_REGISTRY');
  }

  static async open(uri: string, database: string, workerIds: readonly string[], intervalMs = 50): Promise<RegistryWatch> {
    // Short selection timeout: during a database outage a poll fails fast and the next one is tried.
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 300, heartbeatFrequencyMS: 500, connectTimeoutMS: 1_000 });
    await client.connect();
    const watch = new RegistryWatch(client, database, workerIds, intervalMs);
    watch.#running = true;
    watch.#loop = watch.#run();
    await watch.next();
    return watch;
  }

  /** Resolves with the next successful sample. */
  next(): Promise<Sample> {
    return new Promise((resolve) => {
      const listener = (s: Sample): void => {
        this.#listeners.delete(listener);
        resolve(s);
      };
      this.#listeners.add(listener);
    });
  }

  /** Resolves with the latest sample, or the first one to come, for which `predicate` holds. */
  until(what: string, predicate: (s: Sample) => boolean, timeoutMs: number): Promise<Sample> {
    return new Promise((resolve, reject) => {
      if (this.latest !== undefined && predicate(this.latest)) {
        resolve(this.latest);
        return;
      }
      const listener = (s: Sample): void => {
        if (!predicate(s)) return;
        clearTimeout(timer);
        this.#listeners.delete(listener);
        resolve(s);
      };
      const timer = setTimeout(() => {
        this.#listeners.delete(listener);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for the registry: ${what}; last seen: ${this.describe()}`));
      }, timeoutMs);
      this.#listeners.add(listener);
    });
  }

  /** Waits until every given worker has is_active === `active`; returns that sample. */
  untilAll(workerIds: readonly string[], active: boolean, timeoutMs: number): Promise<Sample> {
    return this.until(
      `${workerIds.length === 1 ? workerIds[0] : `${workerIds.length} workers`} is_active ${active}`,
      (s) => workerIds.every((id) => s.docs.get(id)?.is_active === active),
      timeoutMs,
    );
  }

  /** Transitions of this worker (or all) to `to` whose detection came after `sinceMs`. */
  transitionsTo(to: ActiveState, sinceMs = 0, workerId?: string): Transition[] {
    return this.transitions.filter((t) => t.to === to && t.detectedMs > sinceMs && (workerId === undefined || t.workerId === workerId));
  }

  /** Whether the worker's document has the contract's BSON types (Int64 last_heartbeat, Float64 specs, …). */
  async hasContractTypes(workerId: string): Promise<boolean> {
    const n = await this.#collection.countDocuments({
      worker_id: { $eq: workerId, $type: 'string' },
      worker_ip: { $type: 'string' },
      total_cpu: { $type: 'double' },
      total_memory: { $type: 'double' },
      total_storage: { $type: 'double' },
      total_gpu: { $type: 'double' },
      is_active: { $type: 'bool' },
      last_heartbeat: { $type: 'long' },
      registered_at: { $type: 'date' },
      updated_at: { $type: 'date' },
    });
    return n === 1;
  }

  /** One line about the latest sample, for failure messages. */
  describe(): string {
    if (this.latest === undefined) return '(no sample)';
    const parts = this.workerIds.map((id) => {
      const d = this.latest?.docs.get(id);
      return d === undefined ? `${id}=absent` : `${id}=${d.is_active ? 'active' : 'inactive'}@${d.last_heartbeat}`;
    });
    return `${parts.slice(0, 25).join(' ')}${parts.length > 25 ? ' …' : ''} (${this.failures.length} failed polls)`;
  }

  async close(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#wake?.();
    await this.#loop;
    await this.client.close(true);
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const sentMs = performance.now();
      try {
        const docs = await this.#collection
          .find({ worker_id: { $in: [...this.workerIds] } }, { projection: { _id: 0 } })
          .toArray();
        this.#record({ sentMs, recvMs: performance.now(), docs: new Map(docs.map((d) => [d.worker_id, d])) });
      } catch (error) {
        this.failures.push({ sentMs, recvMs: performance.now(), message: error instanceof Error ? error.message : String(error) });
      }
      const wait = Math.max(0, sentMs + this.intervalMs - performance.now());
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(resolve, wait);
      });
    }
  }

  #record(sample: Sample): void {
    this.samples += 1;
    this.latest = sample;
    for (const id of this.workerIds) {
      const doc = sample.docs.get(id);
      const state: ActiveState = doc === undefined ? 'absent' : doc.is_active;
      const previous = this.#state.get(id);
      if (previous !== undefined && previous.state !== state) {
        this.transitions.push({
          workerId: id,
          from: previous.state,
          to: state,
          earliestMs: previous.seenAtMs,
          detectedMs: sample.recvMs,
          lastHeartbeat: doc?.last_heartbeat,
        });
      }
      this.#state.set(id, { state, seenAtMs: sample.sentMs });
    }
    for (const listener of [...this.#listeners]) listener(sample);
  }
}
