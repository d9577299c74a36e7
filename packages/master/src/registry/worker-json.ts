import type { WorkerHardware } from './hardware-document.js';
import type { Worker } from './worker.js';

/**
 * A date as ISO 8601, or null for one JavaScript cannot represent (a BSON date
 * beyond ±8.64e15 ms, which another tool can write): one odd document must not
 * make a whole listing, watch or fleet page fail.
 */
function isoOrNull(date: Date): string | null {
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/**
 * The machine-readable form of a worker: the contract's fields, dates as ISO
 * strings (null when out of range). One form for `worker list --json`, the
 * HTTP API and the fleet feed, so it lives beside the registry that both the
 * command line and the server import, never in either of them.
 */
export function workerToJson(worker: Worker): Record<string, string | number | boolean | null | ReturnType<typeof hardwareToJson>> {
  return {
    worker_id: worker.worker_id,
    worker_ip: worker.worker_ip,
    total_cpu: worker.total_cpu,
    total_memory: worker.total_memory,
    total_storage: worker.total_storage,
    total_gpu: worker.total_gpu,
    is_active: worker.is_active,
    last_heartbeat: worker.last_heartbeat,
    registered_at: isoOrNull(worker.registered_at),
    updated_at: isoOrNull(worker.updated_at),
    ...(worker.hardware === undefined ? {} : { hardware: hardwareToJson(worker.hardware) }),
  };
}

/** The inventory in JSON (`reported_at` as ISO 8601; the digest left out: it is the master's bookkeeping). */
export function hardwareToJson(hardware: WorkerHardware): { gpus: WorkerHardware['gpus']; host: WorkerHardware['host']; reported_at: string } {
  return { gpus: hardware.gpus, host: hardware.host, reported_at: hardware.reported_at.toISOString() };
}
