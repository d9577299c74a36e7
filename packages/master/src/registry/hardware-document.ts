import { createHash } from 'node:crypto';
import { HardwareSchema, type Hardware } from '@cluster/protocol';
import type { Document } from 'mongodb';

/**
 * The `hardware` extension sub-document of a WORKER_REGISTRY document
 * (docs/WORKER_REGISTRY.md, "Extension: hardware"): the inventory an agent of
 * protocol version 2 reports, with its digest and when it was written. The
 * contract's ten fields are not touched by it.
 */
export interface WorkerHardware extends Hardware {
  /** sha256 (hex) of the inventory's canonical JSON: what a write compares, so an unchanged one writes nothing. */
  digest: string;
  /** When the master last wrote a changed inventory. */
  reported_at: Date;
}

export interface WorkerHardwareEntry {
  worker_id: string;
  hardware: Hardware;
  digest: string;
}

/** JSON with object keys sorted: equal inventories give equal text whatever order their keys came in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function hardwareDigest(hardware: Hardware): string {
  return createHash('sha256').update(canonicalJson(hardware)).digest('hex');
}

/**
 * The sub-document as written: integers are stored as Int32 (every bounded
 * value fits, see HARDWARE_LIMITS), strings as strings, unknown values as null.
 */
export function hardwareToBson(hardware: Hardware, digest: string, now: Date): Document {
  return { gpus: hardware.gpus.map((gpu) => ({ ...gpu })), host: { ...hardware.host }, digest, reported_at: now };
}

/**
 * The sub-document as read, or null when the document has none or one this
 * build cannot read (written by hand, or by a later version): consumers show
 * no inventory rather than a wrong one.
 */
export function toWorkerHardware(value: unknown): WorkerHardware | null {
  if (value === null || typeof value !== 'object') return null;
  const doc = value as Record<string, unknown>;
  const digest = doc.digest;
  const reportedAt = doc.reported_at;
  const parsed = HardwareSchema.safeParse({ gpus: doc.gpus, host: doc.host });
  if (!parsed.success || typeof digest !== 'string' || !(reportedAt instanceof Date)) return null;
  return { ...parsed.data, digest, reported_at: reportedAt };
}
