import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { ISSUED_TOKEN_PATTERN } from '@cluster/protocol';
import type { Db } from 'mongodb';
import { SINGLE_BATCH_SIZE } from './collections.js';
import { describeHosts, guard } from './driver-errors.js';
import { OneAtATime } from './one-at-a-time.js';
import { generateToken, hashToken, type RandomBytes } from './token.js';

/**
 * ENROLLMENT_TOKENS: the tokens that let a batch of registered machines fetch
 * their own credentials (`cluster-master enroll create`), one document per
 * token: `{ token_id, token_hash (hex SHA-256), patterns, expires_at,
 * max_uses (null: no limit), uses, created_at, revoked_at?, label? }`. Like an
 * admin token, the token is shown once and only its hash is stored; a revoked
 * or expired one stays listed. A collection of its own: WORKER_REGISTRY keeps
 * the contract's fields only.
 */
export const ENROLLMENT_TOKENS_COLLECTION = 'ENROLLMENT_TOKENS';

/** A token's public handle: 8 random bytes in hex. */
export const ENROLLMENT_TOKEN_ID_PATTERN = /^[0-9a-f]{16}$/;

export interface EnrollmentTokenInfo {
  token_id: string;
  patterns: string[];
  expires_at: Date;
  max_uses: number | null;
  uses: number;
  created_at: Date;
  revoked_at: Date | null;
}

/** Why a known enrollment token cannot enroll now; undefined when it can. */
export type EnrollmentTokenState = 'revoked' | 'expired' | 'used-up' | undefined;

export function enrollmentTokenState(info: Pick<EnrollmentTokenInfo, 'revoked_at' | 'expires_at' | 'max_uses' | 'uses'>, now: Date): EnrollmentTokenState {
  if (info.revoked_at !== null) return 'revoked';
  if (info.expires_at.getTime() <= now.getTime()) return 'expired';
  if (info.max_uses !== null && info.uses >= info.max_uses) return 'used-up';
  return undefined;
}

export interface EnrollmentTokenStore {
  /** A new token; the token itself is returned here and never again. */
  issue(options: { patterns: string[]; ttlMs: number; maxUses: number | null }): Promise<{ token: string; info: EnrollmentTokenInfo }>;
  /** Every token issued, oldest first, without hashes. */
  list(): Promise<EnrollmentTokenInfo[]>;
  /** Marks the token revoked; false if no such token or already revoked. */
  revoke(tokenId: string): Promise<boolean>;
  /** The token that hashes like `token` (live or not), or null: one read by hash. */
  find(token: string): Promise<EnrollmentTokenInfo | null>;
  /**
   * Counts one use if the token is still usable: one conditional update
   * (`uses` below `maxUses`, as read with the token), so two enrollments at
   * once cannot both take the last use (on the dev database, whose updates
   * are not atomic, only because this store counts one use of a token at a
   * time).
   */
  consume(tokenId: string, maxUses: number | null, now: Date): Promise<boolean>;
  /** Gives a use back (an enrollment undone after its use was counted). */
  release(tokenId: string): Promise<void>;
}

interface EnrollmentTokenDocument {
  token_id: string;
  token_hash: string;
  patterns: string[];
  expires_at: Date;
  max_uses: number | null;
  uses: number;
  created_at: Date;
  revoked_at?: Date;
}


function toInfo(doc: Partial<EnrollmentTokenDocument>): EnrollmentTokenInfo {
  return {
    token_id: String(doc.token_id),
    patterns: Array.isArray(doc.patterns) ? doc.patterns.map(String) : [],
    expires_at: doc.expires_at instanceof Date ? doc.expires_at : new Date(0),
    max_uses: typeof doc.max_uses === 'number' ? doc.max_uses : null,
    uses: typeof doc.uses === 'number' ? doc.uses : 0,
    created_at: doc.created_at instanceof Date ? doc.created_at : new Date(0),
    revoked_at: doc.revoked_at instanceof Date ? doc.revoked_at : null,
  };
}

export function createEnrollmentTokenStore(db: Db, options: { now?: () => Date; randomBytes?: RandomBytes; describeDatabase?: string } = {}): EnrollmentTokenStore {
  const now = options.now ?? (() => new Date());
  const randomBytes = options.randomBytes ?? cryptoRandomBytes;
  const where = options.describeDatabase ?? describeHosts(db);
  const tokens = db.collection<EnrollmentTokenDocument>(ENROLLMENT_TOKENS_COLLECTION);
  // Uses are counted with $inc, which the dev database does not apply atomically (a rack of 10 enrolling at once
  // was counted 9, and a --uses limit could be passed): this store counts one use of a token at a time. Several
  // masters still race on such a database; MongoDB applies each $inc atomically.
  const uses = new OneAtATime();

  return {
    async issue({ patterns, ttlMs, maxUses }) {
      const token = generateToken(randomBytes);
      const created = now();
      const doc: EnrollmentTokenDocument = {
        token_id: randomBytes(8).toString('hex'),
        token_hash: hashToken(token),
        patterns,
        expires_at: new Date(created.getTime() + ttlMs),
        max_uses: maxUses,
        uses: 0,
        created_at: created,
      };
      await guard(where, () => tokens.insertOne({ ...doc }));
      return { token, info: toInfo(doc) };
    },

    async list() {
      const docs = await guard(where, () => tokens.find({}, { projection: { _id: 0, token_hash: 0 }, batchSize: SINGLE_BATCH_SIZE }).toArray());
      return docs.map(toInfo).sort((a, b) => a.created_at.getTime() - b.created_at.getTime());
    },

    async revoke(tokenId) {
      if (!ENROLLMENT_TOKEN_ID_PATTERN.test(tokenId)) return false;
      const result = await guard(where, () => tokens.updateOne({ token_id: tokenId, revoked_at: { $exists: false } }, { $set: { revoked_at: now() } }));
      return result.modifiedCount === 1;
    },

    async find(token) {
      if (typeof token !== 'string' || !ISSUED_TOKEN_PATTERN.test(token)) return null;
      // By its hash, as admin tokens: 256 random bits, so the hash is as unguessable as the token.
      const doc = await guard(where, () => tokens.findOne({ token_hash: hashToken(token) }, { projection: { _id: 0, token_hash: 0 } }));
      return doc === null ? null : toInfo(doc);
    },

    async consume(tokenId, maxUses, at) {
      const limit = maxUses === null ? {} : { uses: { $lt: maxUses } };
      const result = await uses.run(tokenId, () =>
        guard(where, () => tokens.updateOne({ token_id: tokenId, ...limit, revoked_at: { $exists: false }, expires_at: { $gt: at } }, { $inc: { uses: 1 } })),
      );
      return result.modifiedCount === 1;
    },

    async release(tokenId) {
      await uses.run(tokenId, () => guard(where, () => tokens.updateOne({ token_id: tokenId, uses: { $gt: 0 } }, { $inc: { uses: -1 } })));
    },
  };
}
