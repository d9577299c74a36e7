import type { WorkerHardwareEntry } from '../registry/hardware-document.js';
import type { AdmissionEntry, WorkerSpecsEntry } from '../registry/worker.js';
import type { AdmissionSnapshot } from '../registry/admission-snapshot.js';

/**
 * The narrow view of the registry data layer (../registry) that the server
 * needs. The real registry satisfies it structurally; unit tests put a fake
 * behind it to drive failures without a database.
 */

/** One worker as admission sees it: address and specs, no timestamps. */
export type AdmissionRecord = AdmissionEntry;

export type SpecsEntry = WorkerSpecsEntry;

export interface RegistryPort {
  /** Creates the collections and indexes if missing; safe to repeat. */
  ensureCollections(): Promise<unknown>;
  /** Every registered worker, in one query. */
  listAdmissionView(): Promise<readonly AdmissionRecord[]>;
  /** One updateMany with $in: last_heartbeat, is_active true, updated_at. Never upserts. */
  recordHeartbeats(ids: string[], unixSeconds: number, now: Date): Promise<{ matched: number }>;
  /**
   * One updateMany with $in: is_active false, updated_at; a worker with an
   * entry in `lastWritten` only while its last_heartbeat is not newer than it.
   */
  markInactive(ids: string[], now: Date, lastWritten?: ReadonlyMap<string, number>): Promise<number>;
  /** One updateMany {is_active: true, last_heartbeat: {$lt: cutoff}} (worker_id not among `spare`; last_heartbeat ≥ `since` when given): is_active false. */
  sweepStale(cutoffUnixSeconds: number, now: Date, spare?: readonly string[], sinceUnixSeconds?: number): Promise<number>;
  /** One bulkWrite, one statement per distinct set of specs; never upserts. */
  updateSpecs(entries: SpecsEntry[], now: Date): Promise<unknown>;
  /** One bulkWrite, one updateOne per worker where `hardware.digest` differs; never upserts. */
  updateHardware(entries: WorkerHardwareEntry[], now: Date): Promise<unknown>;
  /** Which of these ids are registered, in one query. */
  existingWorkerIds(ids: string[]): Promise<Set<string>>;
}

export interface CredentialsPort {
  /**
   * worker_id -> sha256 hex of the worker's token and the registration (document `_id` key) it
   * was issued for (undefined: issued before credentials were bound), in one query.
   */
  loadAll(): Promise<Map<string, { tokenHash: string; registration: string | undefined }>>;
}

/** The admission version of ../registry/admission-version.ts (null: never set). */
export interface AdmissionVersionPort {
  read(): Promise<string | null>;
}

/** The counts of worker documents and credentials of ../registry/admission-counts.ts. */
export interface AdmissionCountsPort {
  read(): Promise<{ workers: number; credentials: number }>;
}

/** The stored admission view of ../registry/admission-snapshot.ts. */
export interface AdmissionSnapshotPort {
  read(): Promise<AdmissionSnapshot | null>;
  write(version: string, text: string, count: number): Promise<void>;
}

/** Constant-time comparison of a presented token with a stored hash. */
export type TokenVerifier = (token: string, hashHex: string) => boolean;

/** How far every running master has written heartbeats (../registry/write-horizon.ts). */
export interface WriteHorizonPort {
  publish(instanceId: string, writtenAsOfMs: number, nowMs: number): Promise<void>;
  othersLive(liveSinceMs: number, exceptId: string): Promise<{ count: number; oldestWrittenAsOfMs: number | undefined }>;
  withdraw(instanceId: string, staleBeforeMs: number, nowMs: number): Promise<void>;
}
