import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import type { Db } from 'mongodb';
import { createAdmissionVersion } from './admission-version.js';
import { COLLECTIONS, SINGLE_BATCH_SIZE } from './collections.js';
import { describeHosts, guard, isDuplicateKeyError } from './driver-errors.js';
import { generateToken, hashToken, type RandomBytes } from './token.js';

/**
 * The credential an enrollment issues: a WORKER_CREDENTIALS document like the
 * admin's (`worker_id`, `token_hash`, `worker_doc_id`, `created_at`) with two
 * fields of its own, `enrolled_at` and `enrollment_token_id`, which `worker
 * list` shows. The unique index on worker_id decides two enrollments of one id
 * at once: exactly one gets a credential, the other is "already enrolled".
 */
export type ClaimResult =
  | { ok: true; token: string; tokenHash: string }
  | { ok: false; why: 'unknown-worker' | 'already-enrolled' };

export interface EnrolledCredentials {
  /** Issues the worker's credential, unless it has one for its current registration. */
  claim(workerId: string, enrollmentTokenId: string, now: Date): Promise<ClaimResult>;
  /** Takes back a credential just claimed (its enrollment could not be completed). */
  undo(workerId: string, tokenHash: string): Promise<void>;
  /** worker_id → when it enrolled and with which token, for `worker list`. */
  enrolled(): Promise<Map<string, { enrolled_at: Date; enrollment_token_id: string }>>;
}

export function createEnrolledCredentials(db: Db, options: { randomBytes?: RandomBytes; describeDatabase?: string } = {}): EnrolledCredentials {
  const randomBytes = options.randomBytes ?? cryptoRandomBytes;
  const where = options.describeDatabase ?? describeHosts(db);
  const credentials = db.collection(COLLECTIONS.credentials);
  const workers = db.collection(COLLECTIONS.workers);
  const version = createAdmissionVersion(db, { describeDatabase: where });

  return {
    async claim(workerId, enrollmentTokenId, now) {
      const doc = await guard(where, () => workers.findOne({ worker_id: workerId }, { projection: { _id: 1 } }));
      if (doc === null) return { ok: false, why: 'unknown-worker' };
      // A credential of an earlier registration of this id (unregistered, registered again) admits nobody: it goes.
      await guard(where, () => credentials.deleteMany({ worker_id: workerId, worker_doc_id: { $exists: true, $ne: doc._id } }));
      const token = generateToken(randomBytes);
      const tokenHash = hashToken(token);
      try {
        await guard(where, () =>
          credentials.insertOne({ worker_id: workerId, token_hash: tokenHash, worker_doc_id: doc._id, created_at: now, enrolled_at: now, enrollment_token_id: enrollmentTokenId }),
        );
      } catch (error) {
        if (isDuplicateKeyError(error)) return { ok: false, why: 'already-enrolled' };
        throw error;
      }
      await version.bump();
      return { ok: true, token, tokenHash };
    },

    async undo(workerId, tokenHash) {
      await guard(where, () => credentials.deleteOne({ worker_id: workerId, token_hash: tokenHash }));
      await version.bump();
    },

    async enrolled() {
      const docs = await guard(where, () =>
        credentials
          .find({ enrolled_at: { $exists: true } }, { projection: { _id: 0, worker_id: 1, enrolled_at: 1, enrollment_token_id: 1 }, batchSize: SINGLE_BATCH_SIZE })
          .toArray(),
      );
      const out = new Map<string, { enrolled_at: Date; enrollment_token_id: string }>();
      for (const d of docs) {
        if (typeof d.worker_id === 'string' && d.enrolled_at instanceof Date) out.set(d.worker_id, { enrolled_at: d.enrolled_at, enrollment_token_id: String(d.enrollment_token_id) });
      }
      return out;
    },
  };
}
