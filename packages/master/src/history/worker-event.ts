/**
 * One entry of a worker's history (cluster_db.WORKER_EVENTS): what happened
 * to the worker, when, why, and which process saw it. See
 * docs/WORKER_REGISTRY.md, "WORKER_EVENTS".
 */

export const WORKER_EVENTS_COLLECTION = 'WORKER_EVENTS';

export const WORKER_EVENT_KINDS = [
  'registered',
  'enrolled',
  'admitted',
  'disconnected',
  'flagged_inactive',
  'specs_changed',
  'inventory_changed',
  'token_rotated',
  'address_changed',
  'unregistered',
  'refused',
] as const;

export type WorkerEventKind = (typeof WORKER_EVENT_KINDS)[number];

export function isWorkerEventKind(value: string): value is WorkerEventKind {
  return (WORKER_EVENT_KINDS as readonly string[]).includes(value);
}

/** Why a worker was flagged inactive (the cluster_master_workers_flagged_inactive_total causes). */
export type FlagCause = 'clean_close' | 'master_close' | 'timeout' | 'sweep' | 'handover';

export interface WorkerEvent {
  /**
   * `<instance>:<sequence>` for a master's events: deterministic, so a batch
   * sent again after a failure that did land is refused as duplicates instead
   * of being written twice.
   */
  _id: string;
  worker_id: string;
  at: Date;
  kind: WorkerEventKind;
  /** Why (a close cause, a flag cause, a refusal reason); null when the kind says it all. */
  cause: string | null;
  /** The master's instance id, or `cli@<host>` for an admin command. */
  instance: string;
  /** What else the kind carries (address, versions, from/to); absent when nothing. */
  detail?: Record<string, unknown>;
}

/** The JSON form of an event (the API's and `worker events --json`). */
export interface WorkerEventJson {
  id: string;
  worker_id: string;
  at: string;
  kind: WorkerEventKind;
  cause: string | null;
  instance: string;
  detail?: Record<string, unknown>;
}

export function workerEventToJson(event: WorkerEvent): WorkerEventJson {
  return {
    id: event._id,
    worker_id: event.worker_id,
    at: event.at.toISOString(),
    kind: event.kind,
    cause: event.cause,
    instance: event.instance,
    ...(event.detail === undefined ? {} : { detail: event.detail }),
  };
}
