import type { Collection, Document, ObjectId } from 'mongodb';
import { sleep } from './util.js';

/**
 * The samplers read worker documents by _id, one findOne each: that is the
 * cheapest read on every build of the dev database (upstream FerretDB scans
 * the whole collection for any other filter, ~0.7 s at 10,000 workers, which
 * would load the database the master writes to). A read of one document by
 * _id costs ~1 ms. Reads are frequent (every `fastMs`) for the first
 * `fastForMs` of a wait, then every `slowMs`, so a slow path does not turn
 * into a flood of reads.
 */
export interface PollPace {
  fastMs: number;
  fastForMs: number;
  slowMs: number;
}

export const DEFAULT_PACE: PollPace = { fastMs: 100, fastForMs: 2_500, slowMs: 500 };

/**
 * Heartbeat → database lag: for each sampled heartbeat (worker, send time),
 * the first read whose `updated_at` (the flush's time, ms) is at or after the
 * send time. The lag is that read's start minus the send time: the read
 * before it, one poll earlier, did not see it yet.
 */
export class LagSampler {
  readonly lags: number[] = [];
  readonly #pending = new Map<string, number[]>();
  #collecting = false;
  #running = false;
  #loop: Promise<void> | undefined;
  reads = 0;

  constructor(
    private readonly workers: Collection<Document>,
    private readonly idOf: ReadonlyMap<string, ObjectId>,
    private readonly pace: PollPace = DEFAULT_PACE,
  ) {}

  get pending(): number {
    let n = 0;
    for (const list of this.#pending.values()) n += list.length;
    return n;
  }

  addBeats(beats: readonly [string, number][]): void {
    if (!this.#collecting) return;
    for (const [id, sentAt] of beats) {
      const list = this.#pending.get(id) ?? [];
      list.push(sentAt);
      this.#pending.set(id, list);
    }
  }

  start(): void {
    this.#collecting = true;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stops taking new beats, waits (up to `timeoutMs`) for those taken to show; returns how many never did. */
  async finish(timeoutMs: number): Promise<number> {
    this.#collecting = false;
    const deadline = Date.now() + timeoutMs;
    while (this.pending > 0 && Date.now() < deadline) await sleep(100);
    this.#running = false;
    await this.#loop;
    return this.pending;
  }

  async #run(): Promise<void> {
    let tick = 0;
    const slowEvery = Math.max(1, Math.round(this.pace.slowMs / this.pace.fastMs));
    while (this.#running) {
      const began = Date.now();
      tick += 1;
      const due = [...this.#pending].filter(
        ([, list]) => list.length > 0 && (began - (list[0] ?? began) < this.pace.fastForMs || tick % slowEvery === 0),
      );
      await Promise.all(due.map(([id, list]) => this.#check(id, list)));
      await sleep(Math.max(0, this.pace.fastMs - (Date.now() - began)));
    }
  }

  async #check(workerId: string, list: number[]): Promise<void> {
    const _id = this.idOf.get(workerId);
    if (_id === undefined) return;
    const issuedAt = Date.now();
    this.reads += 1;
    const doc = await this.workers.findOne({ _id }, { projection: { updated_at: 1 } });
    const updatedAt = doc?.updated_at instanceof Date ? doc.updated_at.getTime() : Number.NEGATIVE_INFINITY;
    // New beats may have been appended meanwhile: only those sent before the write are resolved.
    const current = this.#pending.get(workerId) ?? list;
    const still: number[] = [];
    for (const sentAt of current) {
      if (sentAt <= updatedAt) this.lags.push(issuedAt - sentAt);
      else still.push(sentAt);
    }
    this.#pending.set(workerId, still);
  }
}

/**
 * Time until `is_active: false` is visible for each worker added, from its
 * start time (epoch ms); reads for a worker begin at its `pollFrom` (epoch
 * ms), before which nothing can have happened. Workers can be added while it
 * runs.
 */
export class InactiveWatcher {
  readonly times = new Map<string, number>();
  readonly #pending = new Map<string, { startAt: number; pollFrom: number; lastRead: number | undefined }>();
  reads = 0;

  constructor(
    private readonly workers: Collection<Document>,
    private readonly idOf: ReadonlyMap<string, ObjectId>,
    private readonly pace: PollPace = DEFAULT_PACE,
  ) {}

  add(workerId: string, startAt: number, pollFrom = startAt): void {
    this.#pending.set(workerId, { startAt, pollFrom, lastRead: undefined });
  }

  /** Polls until `expected` workers were added and all of them seen inactive, or the deadline; returns those never seen. */
  async run(expected: number, timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while ((this.times.size < expected || this.#pending.size > 0) && Date.now() < deadline) {
      const began = Date.now();
      const due = [...this.#pending].filter(([, p]) => {
        if (began < p.pollFrom) return false;
        const every = began - p.pollFrom < this.pace.fastForMs ? this.pace.fastMs : this.pace.slowMs;
        return p.lastRead === undefined || began - p.lastRead >= every - 5;
      });
      await Promise.all(due.map(([id, p]) => this.#check(id, p)));
      await sleep(Math.max(0, this.pace.fastMs - (Date.now() - began)));
    }
    return [...this.#pending.keys()];
  }

  async #check(workerId: string, p: { startAt: number; lastRead: number | undefined }): Promise<void> {
    const _id = this.idOf.get(workerId);
    if (_id === undefined) return;
    const issuedAt = Date.now();
    p.lastRead = issuedAt;
    this.reads += 1;
    const doc = await this.workers.findOne({ _id }, { projection: { is_active: 1 } });
    if (doc !== null && doc.is_active === false && this.#pending.has(workerId)) {
      this.times.set(workerId, issuedAt - p.startAt);
      this.#pending.delete(workerId);
    }
  }
}
