import type { Collection, Db, Document } from 'mongodb';
import type { AdmissionVersion } from './admission-version.js';
import type { EnsureReport } from './collections.js';
import type { WorkerHardwareEntry } from './hardware-document.js';
import type {
  AdmissionEntry,
  Worker,
  WorkerFilter,
  WorkerInfoUpdate,
  WorkerSpecsEntry,
} from './worker.js';

/*
 * The registry's interface and what its operation files share, apart from
 * worker-registry.ts, which builds the registry from those files: they import
 * these types from here and it imports them, so the arrows point one way.
 */

export interface WorkerRegistry {
  /** WORKER_REGISTRY, USERS, TASKS, ASSIGNMENTS, RESULTS, WORKER_CREDENTIALS, REGISTRY_VERSION and their indexes; idempotent. */
  ensureCollections(): Promise<EnsureReport>;
  /** Inserts the contract's initial document. Concurrent registrations of one id: exactly one wins. */
  registerWorker(workerId: string, workerIp: string): Promise<Worker>;
  /**
   * Inserts many initial documents, all or none: when any id exists (or is
   * inserted meanwhile), the ones this call inserted are deleted again and
   * WorkerAlreadyRegisteredError names the first id found.
   */
  registerWorkers(entries: readonly { worker_id: string; worker_ip: string }[]): Promise<Worker[]>;
  getWorker(workerId: string): Promise<Worker | null>;
  /** Sorted by worker_id. */
  getAllWorkers(): Promise<Worker[]>;
  /** The contract's "Update (Worker Info)": one updateOne, no upsert. */
  updateWorkerInfo(info: WorkerInfoUpdate): Promise<void>;
  /** Sets worker_ip and updated_at only (WorkerNotFoundError if none); the credential stays. */
  updateWorkerIp(workerId: string, workerIp: string): Promise<Worker>;
  /** The contract's "Update (Heartbeat)": one updateOne, no upsert. */
  updateHeartbeat(workerId: string, unixSeconds: number): Promise<void>;
  unregisterWorker(workerId: string): Promise<void>;
  workerExists(workerId: string): Promise<boolean>;

  findActive(): Promise<Worker[]>;
  findByIp(ip: string): Promise<Worker[]>;
  /** Active workers whose last heartbeat is before `cutoffUnixSeconds`. */
  findStale(cutoffUnixSeconds: number): Promise<Worker[]>;
  /** More than `cpu` cores and more than `memory` GiB ($gt, as the contract's example). */
  findByMinResources(minimum: { cpu?: number; memory?: number }): Promise<Worker[]>;
  findGpuWorkers(): Promise<Worker[]>;
  /** All given filters at once, in one query; sorted by worker_id. */
  findWorkers(filter: WorkerFilter): Promise<Worker[]>;

  // The master's paths. Each is exactly one database command (none for an
  // empty list), so database load does not grow with the number of workers.
  /** One updateMany: last_heartbeat, is_active: true, updated_at. Never upserts. */
  recordHeartbeats(workerIds: readonly string[], unixSeconds: number, now: Date): Promise<{ matched: number }>;
  /**
   * One updateMany on the given workers that are active now; returns how many
   * changed. `lastWritten`: the last_heartbeat (unix seconds) this master last
   * wrote for each worker; a worker whose document holds a newer one (another
   * master serves it now) is left alone. See inactiveFilter.
   */
  markInactive(workerIds: readonly string[], now: Date, lastWritten?: ReadonlyMap<string, number>): Promise<number>;
  /**
   * One updateMany: active workers with last_heartbeat < cutoff become
   * inactive, but for those in `spare` (workers whose return a master has not
   * written yet); returns how many. With `sinceUnixSeconds`, only those with
   * last_heartbeat in [since, cutoff) (at most MAX_STALE_WINDOW_SECONDS
   * seconds): the incremental sweep, for a caller that swept below `since`
   * already (StaleSweeper); an empty window sends no command.
   */
  sweepStale(cutoffUnixSeconds: number, now: Date, spare?: readonly string[], sinceUnixSeconds?: number): Promise<number>;
  /**
   * A bulkWrite (no upsert) of one statement per distinct set of specs: an
   * updateOne for a worker alone with its specs, an updateMany ($in) for
   * several alike. One command for up to `maxUpdatesPerCommand` statements,
   * one more per further such chunk. Resolves how many documents changed.
   */
  updateSpecs(entries: readonly WorkerSpecsEntry[], now: Date): Promise<number>;
  /**
   * A bulkWrite (no upsert) of one updateOne per worker, setting `hardware`
   * (and updated_at) only where `hardware.digest` differs. One command for up
   * to `maxUpdatesPerCommand` workers, one more per further such chunk.
   */
  updateHardware(entries: readonly WorkerHardwareEntry[], now: Date): Promise<number>;
  /** Which of these ids are registered: one find with a projection. */
  existingWorkerIds(workerIds: readonly string[]): Promise<Set<string>>;
  /** Every worker's id, address and specs: one find with a projection. */
  listAdmissionView(): Promise<AdmissionEntry[]>;
}

/** What the registry's operations share: the collection, the guarded runner, the clock, the admission version. */
export interface RegistryContext {
  db: Db;
  workers: Collection<Document>;
  /** Runs a database operation, turning connectivity failures into DatabaseUnavailableError. */
  run: <T>(operation: () => Promise<T>) => Promise<T>;
  clock: () => Date;
  /** Set anew after each admin write that changes what admission reads; best effort (see admission-version.ts). */
  version: AdmissionVersion;
  maxUpdatesPerCommand: number;
}
