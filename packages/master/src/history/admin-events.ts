import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Db } from 'mongodb';
import { WORKER_EVENTS_COLLECTION, type WorkerEvent, type WorkerEventKind } from './worker-event.js';

/** The `instance` of events an admin command writes: which host ran it. */
export function adminInstance(): string {
  return `cli@${hostname()}`;
}

/**
 * Writes the event of an admin operation (registered, token rotated, address
 * changed, unregistered) that has just succeeded: one insertOne, after it, by
 * the process that did it (the CLI, or a master's API). Best effort: the
 * operation is done whether or not its event is written, so a failure here is
 * reported by the returned promise's value (false), never thrown.
 */
export async function recordAdminEvent(db: Db, event: AdminEvent): Promise<boolean> {
  return recordAdminEvents(db, [event]);
}

export interface AdminEvent {
  workerId: string;
  kind: WorkerEventKind;
  cause?: string | null;
  detail?: Record<string, unknown>;
  at: Date;
  instance?: string;
}

/** The events of one admin operation on many workers (`worker register --from`): one unordered insertMany, best effort as above. */
export async function recordAdminEvents(db: Db, events: readonly AdminEvent[]): Promise<boolean> {
  if (events.length === 0) return true;
  try {
    await db.collection<WorkerEvent>(WORKER_EVENTS_COLLECTION).insertMany(events.map(adminEventDocument), { ordered: false });
    return true;
  } catch {
    return false;
  }
}

function adminEventDocument(event: AdminEvent): WorkerEvent {
  const instance = event.instance ?? adminInstance();
  return {
    // Fixed before the send: the driver's retry of this insert cannot write it twice.
    _id: `${instance}:${randomUUID()}`,
    worker_id: event.workerId,
    at: event.at,
    kind: event.kind,
    cause: event.cause ?? null,
    instance,
    ...(event.detail === undefined ? {} : { detail: event.detail }),
  };
}
