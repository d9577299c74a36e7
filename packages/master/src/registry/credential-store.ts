import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import type { Db } from 'mongodb';
import { createAdmissionVersion } from './admission-version.js';
import { COLLECTIONS, SINGLE_BATCH_SIZE } from './collections.js';
import { describeHosts, guard } from './driver-errors.js';
import { WorkerNotFoundError } from '../errors.js';
import { assertWorkerId } from './validate.js';
import { generateToken, hashToken, type RandomBytes } from './token.js';

/**
 * WORKER_CREDENTIALS: one document per worker, `{ worker_id (unique),
 * token_hash (hex SHA-256), created_at }`. The token itself is returned once,
 * to be shown to the admin, and never stored.
 */
export interface CredentialStore {
  /** Creates or replaces the worker's credential; returns the new token. */
  issue(workerId: string): Promise<string>;
  /** Like issue, but only for a registered worker (WorkerNotFoundError otherwise). */
  rotate(workerId: string): Promise<string>;
  /** Deletes the credential; false if there was none. */
  remove(workerId: string): Promise<boolean>;
  /** The stored hash, or null. */
  get(workerId: string): Promise<string | null>;
  /** worker_id → token hash, for the master's in-memory admission view. */
  loadAll(): Promise<Map<string, string>>;
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
      const token = generateToken(randomBytes);
      // An upsert here is fine: this is the admin's path, never the agent's,
      // and it replaces a leftover credential of an earlier worker of that id.
      await guard(where, () =>
        credentials.replaceOne(
          { worker_id: workerId },
          { worker_id: workerId, token_hash: hashToken(token), created_at: clock() },
          { upsert: true },
        ),
      );
      await version.bump();
      return token;
    },

    async rotate(workerId) {
      assertWorkerId(workerId);
      const registered = await guard(where, () => workers.countDocuments({ worker_id: workerId }));
      if (registered === 0) throw new WorkerNotFoundError(workerId);
      return store.issue(workerId);
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
          .find({}, { projection: { _id: 0, worker_id: 1, token_hash: 1 }, batchSize: SINGLE_BATCH_SIZE })
          .toArray(),
      );
      const hashes = new Map<string, string>();
      for (const doc of docs) {
        if (typeof doc.worker_id === 'string' && typeof doc.token_hash === 'string') {
          hashes.set(doc.worker_id, doc.token_hash);
        }
      }
      return hashes;
    },
  };
  return store;
}
