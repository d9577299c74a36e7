import type { WorkerHardwareEntry } from '../../registry/hardware-document.js';
import type { Specs } from '@cluster/protocol';
import { Registry as MetricsRegistry } from 'prom-client';
import { createMasterMetrics, type MasterMetrics } from '../../metrics/metrics.js';
import type { Clock, Timer } from '../clock.js';
import { DbHealth } from '../db-health.js';
import { createMasterLogger } from '../../logger.js';
import type { AdmissionRecord, CredentialsPort, RegistryPort, SpecsEntry } from '../ports.js';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export function captureLogger(): { logger: ReturnType<typeof createMasterLogger>; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = createMasterLogger({
    level: 'debug',
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
  });
  return { logger, lines };
}

interface ManualTimer {
  dueMs: number;
  seq: number;
  callback: () => void;
  unref(): ManualTimer;
}

/**
 * A clock the test moves by hand: both times, and the timers set on it, which
 * fire in order of their due time as advance() passes it.
 */
export class ManualClock implements Clock {
  wallMs = Date.UTC(2025, 9, 15, 10, 30, 0);
  monoMs = 1_000_000;
  #timers: ManualTimer[] = [];
  #seq = 0;
  readonly now = (): number => this.wallMs;
  readonly monotonic = (): number => this.monoMs;
  readonly setTimeout = (callback: () => void, delayMs: number): Timer => {
    const timer: ManualTimer = { dueMs: this.monoMs + Math.max(0, delayMs), seq: this.#seq++, callback, unref: () => timer };
    this.#timers.push(timer);
    return timer;
  };
  readonly clearTimeout = (timer: Timer | undefined): void => {
    this.#timers = this.#timers.filter((t) => t !== timer);
  };

  /** Timers set and not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** Moves both clocks by `ms`, firing the timers that fall due on the way, synchronously. */
  advance(ms: number): void {
    const target = this.monoMs + ms;
    for (let timer = this.#takeDue(target); timer !== undefined; timer = this.#takeDue(target)) timer.callback();
    this.#moveTo(target);
  }

  /** Like advance(), but lets promise callbacks (and I/O) run before and after each timer, like vi.advanceTimersByTimeAsync. */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.monoMs + ms;
    await settle();
    for (let timer = this.#takeDue(target); timer !== undefined; timer = this.#takeDue(target)) {
      timer.callback();
      await settle();
    }
    this.#moveTo(target);
    await settle();
  }

  #takeDue(targetMs: number): ManualTimer | undefined {
    let next: ManualTimer | undefined;
    for (const t of this.#timers) {
      if (t.dueMs <= targetMs && (next === undefined || t.dueMs < next.dueMs || (t.dueMs === next.dueMs && t.seq < next.seq))) next = t;
    }
    if (next === undefined) return undefined;
    this.#timers = this.#timers.filter((t) => t !== next);
    this.#moveTo(Math.max(this.monoMs, next.dueMs));
    return next;
  }

  #moveTo(monoMs: number): void {
    this.wallMs += monoMs - this.monoMs;
    this.monoMs = monoMs;
  }
}

/** Lets pending promise callbacks run (a macrotask turn). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function testMetrics(): MasterMetrics {
  return createMasterMetrics(new MetricsRegistry());
}

export function testHealth(clock: Clock = new ManualClock()): { health: DbHealth; lines: LogLine[] } {
  const { logger, lines } = captureLogger();
  return { health: new DbHealth(logger, clock), lines };
}

interface Doc extends Specs {
  worker_id: string;
  worker_ip: string;
  is_active: boolean;
  last_heartbeat: number;
  hardwareDigest?: string;
}

export type Call =
  | { op: 'recordHeartbeats'; ids: string[]; unixSeconds: number }
  | { op: 'markInactive'; ids: string[]; lastWritten: Record<string, number> }
  | { op: 'sweepStale'; cutoff: number; spared?: string[] }
  | { op: 'updateSpecs'; entries: SpecsEntry[] }
  | { op: 'updateHardware'; entries: WorkerHardwareEntry[] }
  | { op: 'existingWorkerIds'; ids: string[] }
  | { op: 'listAdmissionView' }
  | { op: 'loadAll' }
  | { op: 'ensureCollections' };

/**
 * An in-memory registry and credential store behind the ports, recording
 * every call; `failing` makes every call throw (a database outage), `hold`
 * makes calls wait until released (a slow database).
 */
export class FakeRegistry implements RegistryPort, CredentialsPort {
  readonly docs = new Map<string, Doc>();
  readonly hashes = new Map<string, string>();
  readonly calls: Call[] = [];
  failing = false;
  #held: { op: Call['op']; go: () => void }[] | undefined;

  add(workerId: string, workerIp = '127.0.0.1', tokenHash = 'a'.repeat(64)): void {
    this.docs.set(workerId, {
      worker_id: workerId,
      worker_ip: workerIp,
      total_cpu: 0,
      total_memory: 0,
      total_storage: 0,
      total_gpu: 0,
      is_active: false,
      last_heartbeat: 0,
    });
    this.hashes.set(workerId, tokenHash);
  }

  remove(workerId: string): void {
    this.docs.delete(workerId);
    this.hashes.delete(workerId);
  }

  /** Calls from now on wait until release() is called. */
  hold(): void {
    this.#held ??= [];
  }

  release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const { go } of held) go();
  }

  /** Lets the calls of this kind that wait go on; the others keep waiting, and later calls still wait. */
  releaseOnly(op: Call['op']): void {
    const held = this.#held ?? [];
    this.#held = held.filter((h) => h.op !== op);
    for (const h of held) if (h.op === op) h.go();
  }

  count(op: Call['op']): number {
    return this.calls.filter((c) => c.op === op).length;
  }

  async #gate(call: Call): Promise<void> {
    this.calls.push(call);
    if (this.#held !== undefined) {
      const held = this.#held;
      await new Promise<void>((resolve) => held.push({ op: call.op, go: resolve }));
    }
    if (this.failing) throw new Error('database unreachable (fake)');
  }

  async ensureCollections(): Promise<void> {
    await this.#gate({ op: 'ensureCollections' });
  }

  async listAdmissionView(): Promise<AdmissionRecord[]> {
    await this.#gate({ op: 'listAdmissionView' });
    return [...this.docs.values()].map(({ worker_id, worker_ip, total_cpu, total_memory, total_storage, total_gpu }) => ({
      worker_id,
      worker_ip,
      registration: `fake:${worker_id}`,
      total_cpu,
      total_memory,
      total_storage,
      total_gpu,
    }));
  }

  async loadAll(): Promise<Map<string, { tokenHash: string; registration: string | undefined }>> {
    await this.#gate({ op: 'loadAll' });
    return new Map([...this.hashes].map(([id, tokenHash]) => [id, { tokenHash, registration: undefined }]));
  }

  async recordHeartbeats(ids: string[], unixSeconds: number): Promise<{ matched: number }> {
    await this.#gate({ op: 'recordHeartbeats', ids: [...ids], unixSeconds });
    let matched = 0;
    for (const id of ids) {
      const doc = this.docs.get(id);
      if (doc === undefined) continue;
      matched += 1;
      doc.is_active = true;
      doc.last_heartbeat = unixSeconds;
    }
    return { matched };
  }

  async markInactive(ids: string[], _now: Date, lastWritten?: ReadonlyMap<string, number>): Promise<number> {
    const limits = Object.fromEntries(ids.flatMap((id) => (lastWritten?.has(id) === true ? [[id, lastWritten.get(id) ?? 0]] : [])));
    await this.#gate({ op: 'markInactive', ids: [...ids], lastWritten: limits });
    let changed = 0;
    for (const id of ids) {
      const doc = this.docs.get(id);
      const limit = limits[id];
      if (doc?.is_active === true && (limit === undefined || doc.last_heartbeat <= limit)) {
        doc.is_active = false;
        changed += 1;
      }
    }
    return changed;
  }

  async sweepStale(cutoff: number, _now?: Date, spare: readonly string[] = []): Promise<number> {
    await this.#gate(spare.length === 0 ? { op: 'sweepStale', cutoff } : { op: 'sweepStale', cutoff, spared: [...spare] });
    const spared = new Set(spare);
    let changed = 0;
    for (const doc of this.docs.values()) {
      if (doc.is_active && doc.last_heartbeat < cutoff && !spared.has(doc.worker_id)) {
        doc.is_active = false;
        changed += 1;
      }
    }
    return changed;
  }

  async updateSpecs(entries: SpecsEntry[]): Promise<void> {
    await this.#gate({ op: 'updateSpecs', entries: entries.map((e) => ({ ...e })) });
    for (const e of entries) {
      const doc = this.docs.get(e.worker_id);
      if (doc !== undefined) Object.assign(doc, e);
    }
  }

  async updateHardware(entries: WorkerHardwareEntry[]): Promise<void> {
    await this.#gate({ op: 'updateHardware', entries: entries.map((e) => ({ ...e })) });
    for (const e of entries) {
      const doc = this.docs.get(e.worker_id);
      if (doc !== undefined) doc.hardwareDigest = e.digest;
    }
  }

  async existingWorkerIds(ids: string[]): Promise<Set<string>> {
    await this.#gate({ op: 'existingWorkerIds', ids: [...ids] });
    return new Set(ids.filter((id) => this.docs.has(id)));
  }
}
