import type { Collection, Db } from 'mongodb';
import { COLLECTIONS } from './collections.js';
import { describeHosts, guard } from './driver-errors.js';

/**
 * ADMISSION_SNAPSHOT: what a master's last full read of the admission view
 * found (workers joined with their credentials), kept as one document so that
 * a restarted master can admit from it at once instead of reading every
 * registry document first. On the dev database a full read decodes every
 * whole document, hardware inventory included, whatever the projection: at
 * 19,000 workers that took 6 s (host-only inventories) to 29 s (8 GPUs
 * each), while the snapshot is one string of a few megabytes, read in 0.2 s.
 *
 * A snapshot is only used when it was read at the admission version the
 * database holds now (no admin write since), and the master reads the whole
 * view again at its usual full-refresh period, which brings in what tools
 * outside ours changed. It holds what the database held, never values a
 * master had only queued for writing (those die with it).
 *
 * The entries are a JSON string rather than BSON arrays: the database stores
 * and returns it as one value instead of decoding 150,000 small ones.
 */

/** One worker as the view holds it: [worker_id, worker_ip, token hash or null, cpu, memory, storage, gpu, inventory digest or null]. */
export type SnapshotEntry = [string, string, string | null, number, number, number, number, string | null];

export interface AdmissionSnapshot {
  /** The admission version read before the view was (registry/admission-version.ts). */
  version: string;
  entries: SnapshotEntry[];
  writtenAt: Date;
}

export interface AdmissionSnapshotStore {
  /** The stored snapshot, or null when there is none or it cannot be read as one (then the master reads the view). */
  read(): Promise<AdmissionSnapshot | null>;
  /** Replaces the stored snapshot (one write by _id). `text` is serializeEntries' output. */
  write(version: string, text: string, count: number): Promise<void>;
}

interface SnapshotDocument {
  _id: string;
  format: number;
  version: string;
  count: number;
  entries: string;
  written_at: Date;
}

/** _id of the one document of COLLECTIONS.admissionSnapshot. */
export const ADMISSION_SNAPSHOT_ID = 'admission_view';
/** Bumped when SnapshotEntry changes: a master never reads a layout it does not know. */
export const SNAPSHOT_FORMAT = 1;

export function serializeEntries(entries: readonly SnapshotEntry[]): string {
  return JSON.stringify(entries);
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStringOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';

function isEntry(value: unknown): value is SnapshotEntry {
  if (!Array.isArray(value) || value.length !== 8) return false;
  const [id, ip, hash, cpu, memory, storage, gpu, digest] = value as unknown[];
  return typeof id === 'string' && typeof ip === 'string' && isStringOrNull(hash) && isNumber(cpu) && isNumber(memory) && isNumber(storage) && isNumber(gpu) && isStringOrNull(digest);
}

/** The entries of a stored document, or null when any part of it is not what this build writes. */
export function parseSnapshot(doc: Partial<SnapshotDocument> | null): AdmissionSnapshot | null {
  if (doc === null || doc.format !== SNAPSHOT_FORMAT || typeof doc.version !== 'string' || typeof doc.entries !== 'string' || !(doc.written_at instanceof Date)) {
    return null;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(doc.entries);
  } catch {
    return null;
  }
  if (!Array.isArray(parsed) || parsed.length !== doc.count || !parsed.every(isEntry)) return null;
  return { version: doc.version, entries: parsed, writtenAt: doc.written_at };
}

export function createAdmissionSnapshotStore(db: Db, options: { now?: () => Date; describeDatabase?: string } = {}): AdmissionSnapshotStore {
  const clock = options.now ?? (() => new Date());
  const where = options.describeDatabase ?? describeHosts(db);
  const snapshots: Collection<SnapshotDocument> = db.collection<SnapshotDocument>(COLLECTIONS.admissionSnapshot);
  return {
    async read() {
      return parseSnapshot(await guard(where, () => snapshots.findOne({ _id: ADMISSION_SNAPSHOT_ID })));
    },
    async write(version, text, count) {
      await guard(where, () =>
        snapshots.replaceOne(
          { _id: ADMISSION_SNAPSHOT_ID },
          { format: SNAPSHOT_FORMAT, version, count, entries: text, written_at: clock() },
          { upsert: true },
        ),
      );
    },
  };
}
