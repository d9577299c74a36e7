import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import type { Db } from 'mongodb';
import { createAdmissionVersion } from './admission-version.js';
import { registrationKey } from './document.js';
import { COLLECTIONS, SINGLE_BATCH_SIZE } from './collections.js';
import { describeHosts, guard } from './driver-errors.js';
import { WorkerNotFoundError } from '../errors.js';
import { recordAdminEvent } from '../history/admin-events.js';
import { assertWorkerId } from './validate.js';
import { generateToken, hashToken, type RandomBytes } from './token.js';

/**
 * WORKER_CREDENTIALS: one document per worker, `{ worker_id (unique),
 * token_hash (hex SHA-256), worker_doc_id, created_at }`. The token itself is
 * returned once, to be shown to the admin, and never stored.
 *
 * A credential belongs to one registration: `worker_doc_id` is the `_id` of
 * the WORKER_REGISTRY document it was issued for, and it admits nobody once
 * that document is gone, even if a document with the same worker_id is
 * inserted again (by hand). A credential without `worker_doc_id` (issued
 * before the binding existed) is valid for the worker_id's document.
 */
export interface CredentialStore {
  /** Creates or replaces the credential of a registered worker (WorkerNotFoundError otherwise); returns the new token. */
  issue(workerId: string): Promise<string>;
  /** Like issue, but only for a registered worker (WorkerNotFoundError otherwise). */
  rotate(workerId: string): Promise<string>;
  /** Deletes the credential; false if there was none. */
  remove(workerId: string): Promise<boolean>;
  /** The stored hash, or null. */
  get(workerId: string): Promise<string | null>;
  /** worker_id → token hash and registration, for the master's in-memory admission view. */
  loadAll(): Promise<Map<string, StoredCredential>>;
  /** Deletes the credentials whose registration is gone (no document, or another one of that id); returns how many. */
  removeOrphans(): Promise<number>;
}

export interface StoredCredential {
  tokenHash: string;
  /** registrationKey of the document it was issued for; undefined for a credential issued before the binding. */
  registration: string | undefined;
}

export interface CredentialStoreOptions {
  now?: () => Date;
  randomBytes?: RandomBytes;
  /** Names the database in DatabaseUnavailableError; default: the client's host list. */
  describeDatabase?: string;
}

interface CredentialDocument {
  worker_id: string;
  token_hash: string;
  worker_doc_id?: unknown;
  created_at: Date;
}

export function createCredentialStore(db: Db, options: CredentialStoreOptions = {}): CredentialStore {
  const clock = options.now ?? (() => new Date());
  const randomBytes = options.randomBytes ?? cryptoRandomBytes;
  const where = options.describeDatabase ?? describeHosts(db);
  const credentials = db.collection<CredentialDocument>(COLLECTIONS.credentials);
  const workers = db.collection(COLLECTIONS.workers);
  // Set anew after each credential change, so masters re-read their view; best effort (see admission-version.ts).
  const version = createAdmissionVersion(db, { now: clock, describeDatabase: where });

  const store: CredentialStore = {
    async issue(workerId) {
      assertWorkerId(workerId);
      const doc = await guard(where, () => workers.findOne({ worker_id: workerId }, { projection: { _id: 1 } }));
      if (doc === null) throw new WorkerNotFoundError(workerId);
      const token = generateToken(randomBytes);
      // An upsert here is fine: this is the admin's path, never the agent's,
      // and it replaces a leftover credential of an earlier worker of that id.
      await guard(where, () =>
        credentials.replaceOne(
          { worker_id: workerId },
          { worker_id: workerId, token_hash: hashToken(token), worker_doc_id: doc._id, created_at: clock() },
          { upsert: true },
        ),
      );
      await version.bump();
      return token;
    },

    async rotate(workerId) {
      const token = await store.issue(workerId);
      await recordAdminEvent(db, { workerId, kind: 'token_rotated', at: clock() });
      return token;
    },

    async remove(workerId) {
      assertWorkerId(workerId);
      const result = await guard(where, () => credentials.deleteOne({ worker_id: workerId }));
      if (result.deletedCount === 0) return false;
      await version.bump();
      return true;
    },

    async get(workerId) {
      assertWorkerId(workerId);
      const doc = await guard(where, () => credentials.findOne({ worker_id: workerId }));
      return typeof doc?.token_hash === 'string' ? doc.token_hash : null;
    },

    async loadAll() {
      const docs = await guard(where, () =>
        credentials
          .find({}, { projection: { _id: 0, worker_id: 1, token_hash: 1, worker_doc_id: 1 }, batchSize: SINGLE_BATCH_SIZE })
          .toArray(),
      );
      const stored = new Map<string, StoredCredential>();
      for (const doc of docs) {
        if (typeof doc.worker_id === 'string' && typeof doc.token_hash === 'string') {
          const registration = 'worker_doc_id' in doc ? registrationKey(doc.worker_doc_id) : undefined;
          stored.set(doc.worker_id, { tokenHash: doc.token_hash, registration });
        }
      }
      return stored;
    },

    async removeOrphans() {
      // Credentials first: a credential read here was issued after its document went in, so the
      // documents read next include it unless it was deleted since. The delete names each token
      // hash, so a credential issued again meanwhile stays.
      const stored = await store.loadAll();
      const docs = await guard(where, () =>
        workers.find({}, { projection: { _id: 1, worker_id: 1 }, batchSize: SINGLE_BATCH_SIZE }).toArray(),
      );
      const current = new Map(docs.map((d) => [d.worker_id as unknown, registrationKey(d._id)]));
      const orphans = [...stored]
        .filter(([id, c]) => !current.has(id) || (c.registration !== undefined && c.registration !== current.get(id)))
        .map(([id, c]) => ({ worker_id: id, token_hash: c.tokenHash }));
      if (orphans.length === 0) return 0;
      const result = await guard(where, () => credentials.deleteMany({ $or: orphans }));
      await version.bump();
      return result.deletedCount;
    },
  };
  return store;
}
