import { randomUUID } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import { COLLECTIONS } from './collections.js';
import { describeHosts, guard, isDuplicateKeyError } from './driver-errors.js';

/**
 * A mark of changes to what admission depends on: which workers are
 * registered, their worker_ip and specs, and their credentials. Every admin
 * write in this package (register, update info, unregister, issue, rotate,
 * remove) sets it to a new random value after its own write. The master reads
 * it by _id every few seconds and re-reads the whole admission view only when
 * it differs from the value it read with the view: one indexed read instead
 * of two scans of every worker and credential, which under load took as much
 * of the database's time as the heartbeat writes.
 *
 * A fresh random value rather than a counter: FerretDB 1.24 runs $inc as an
 * unlocked read-modify-write, so a slow increment could put the counter back
 * to a value a master already holds and hide a later change. A value never
 * written before cannot be mistaken for one a master holds.
 *
 * Writes made outside these tools (mongosh) do not move it; the master also
 * re-reads the view at a slower fixed period for them.
 */
export interface AdmissionVersion {
  /** The current mark; null when none was ever set. One find by _id. */
  read(): Promise<string | null>;
  /** Sets a new mark (creating the document on first use). One update by _id. */
  bump(): Promise<void>;
}

interface VersionDocument {
  _id: string;
  version: string;
  changed_at: Date;
}

/** The one document of COLLECTIONS.registryVersion. */
export const ADMISSION_VERSION_ID = 'admission';

export function createAdmissionVersion(db: Db, options: { now?: () => Date; describeDatabase?: string } = {}): AdmissionVersion {
  const clock = options.now ?? (() => new Date());
  const where = options.describeDatabase ?? describeHosts(db);
  const versions: Collection<VersionDocument> = db.collection<VersionDocument>(COLLECTIONS.registryVersion);
  const mark = (upsert: boolean) =>
    versions.updateOne({ _id: ADMISSION_VERSION_ID }, { $set: { version: randomUUID(), changed_at: clock() } }, { upsert });

  return {
    async read() {
      const doc = await guard(where, () => versions.findOne({ _id: ADMISSION_VERSION_ID }, { projection: { version: 1 } }));
      return typeof doc?.version === 'string' ? doc.version : null;
    },

    async bump() {
      await guard(where, async () => {
        try {
          await mark(true);
        } catch (error) {
          // Two first bumps raced to create the document: the loser's update now finds it.
          if (!isDuplicateKeyError(error)) throw error;
          await mark(false);
        }
      });
    },
  };
}
