import type { Specs } from '@cluster/protocol';
import type { WorkerHardware } from './hardware-document.js';

/**
 * A worker as code sees it: plain JS numbers and Dates, whatever BSON numeric
 * type the document holds (see document.ts). Field names are the contract's
 * (docs/WORKER_REGISTRY.md), so a document, a JSON dump and this type read alike.
 * The specs are the protocol's shape (cores, GiB of memory, GB of storage,
 * GPU devices), defined there once.
 */
export type WorkerSpecs = Specs;

/** Only the specs of anything that holds them (a record read with more fields). */
export function pickSpecs({ total_cpu, total_memory, total_storage, total_gpu }: WorkerSpecs): WorkerSpecs {
  return { total_cpu, total_memory, total_storage, total_gpu };
}

export interface Worker extends WorkerSpecs {
  worker_id: string;
  worker_ip: string;
  is_active: boolean;
  /** Unix seconds, master's clock; 0 = never. */
  last_heartbeat: number;
  registered_at: Date;
  updated_at: Date;
  /** The `hardware` extension (docs/WORKER_REGISTRY.md); absent when the document has none this build can read. */
  hardware?: WorkerHardware;
}

/** What a connect writes (the contract's "Update (Worker Info)"). */
export type WorkerInfoUpdate = { worker_id: string; worker_ip?: string } & WorkerSpecs & {
    is_active: boolean;
    last_heartbeat: number;
  };

export type WorkerSpecsEntry = { worker_id: string } & WorkerSpecs;

/** The part of a worker the master keeps in memory to admit connections. */
/** `registration`: the document's `_id` as a key (see registrationKey); a credential is valid only for it. */
/** `hardwareDigest`: the digest of the document's inventory (absent: none), so an unchanged one is not written again. */
export type AdmissionEntry = { worker_id: string; worker_ip: string; registration: string; hardwareDigest?: string } & WorkerSpecs;

/**
 * Filters of the contract's example queries; all given ones must hold.
 * `staleBefore` is the stale query: active and last heartbeat before this unix second.
 */
export interface WorkerFilter {
  active?: boolean;
  ip?: string;
  /** true: only workers with at least one GPU. */
  gpu?: true;
  /** At least this many CPU cores ($gte). */
  minCpu?: number;
  /** At least this many GiB ($gte). */
  minMemory?: number;
  staleBefore?: number;
  /** Inventory filters (a worker without an inventory matches none): a GPU whose model contains this, case-insensitive. */
  gpuModel?: string;
  /** A GPU with at least this many GiB of memory. */
  minGpuMemoryGib?: number;
  /** The host's architecture, exactly (`x86_64`, `aarch64`). */
  arch?: string;
}
