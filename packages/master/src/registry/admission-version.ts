import { randomUUID } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import { COLLECTIONS } from './collections.js';
import { describeHosts, guard, isDuplicateKeyError } from './driver-errors.js';

/**
 * The version of what admission depends on: which workers are registered,
 * their worker_ip and specs, and their credentials. An opaque value, like
 * Kubernetes' resourceVersion: every admin write in this package (register,
 * update info, unregister, token issue, rotate, remove) sets a new random one
 * after its own write. The master reads it by _id every few seconds and
 * re-reads the whole admission view only when it differs from the version it
 * read with the view: one indexed read instead of two scans of every worker
 * and credential, which under load took as much of the database's time as the
 * heartbeat writes.
 *
 * Random rather than counted: FerretDB 1.24 runs $inc as an unlocked
 * read-modify-write, so a slow increment could put a counter back to a value
 * a master already holds and hide a later change. A value never written
 * before cannot be mistaken for one a master holds.
 *
 * Writes made outside these tools (mongosh) set no new version; the master
 * also compares the collections' counts every minute and re-reads the view
 * every 10 minutes for them (admission-counts.ts).
 */
export interface AdmissionVersion {
  /** The current version; null when none was ever set. One find by _id. */
  read(): Promise<string | null>;
  /**
   * Sets a new version (creating the document on first use). One update by
   * _id. Best effort: it resolves false instead of throwing, because the admin
   * write it follows has landed and must not be reported as failed (an
   * unregister would then leave the token behind, a token rotation would not
   * print the new token). Masters then see that change at their next count
   * check when it changed how many workers or credentials there are (a
   * minute), else at their next full re-read of the view (10 minutes).
   */
  bump(): Promise<boolean>;
}

interface VersionDocument {
  _id: string;
  version: string;
  changed_at: Date;
}

/** _id of the one document of COLLECTIONS.registryVersion. */
export const ADMISSION_VERSION_ID = 'admission';

export function createAdmissionVersion(db: Db, options: { now?: () => Date; describeDatabase?: string } = {}): AdmissionVersion {
  const clock = options.now ?? (() => new Date());
  const where = options.describeDatabase ?? describeHosts(db);
  const versions: Collection<VersionDocument> = db.collection<VersionDocument>(COLLECTIONS.registryVersion);
  const setNew = (upsert: boolean) =>
    versions.updateOne({ _id: ADMISSION_VERSION_ID }, { $set: { version: randomUUID(), changed_at: clock() } }, { upsert });

  return {
    async read() {
      const doc = await guard(where, () => versions.findOne({ _id: ADMISSION_VERSION_ID }, { projection: { version: 1 } }));
      return typeof doc?.version === 'string' ? doc.version : null;
    },

    async bump() {
      try {
        await setNew(true);
      } catch (error) {
        if (!isDuplicateKeyError(error)) return false;
        // Two first bumps raced to create the document: the loser's update now finds it.
        try {
          await setNew(false);
        } catch {
          return false;
        }
      }
      return true;
    },
  };
}
