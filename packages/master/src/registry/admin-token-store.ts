import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { ISSUED_TOKEN_PATTERN } from '@cluster/protocol';
import type { Db } from 'mongodb';
import { SINGLE_BATCH_SIZE } from './collections.js';
import { describeHosts, guard } from './driver-errors.js';
import { generateToken, hashToken, type RandomBytes } from './token.js';

/**
 * ADMIN_TOKENS: the credentials of the master's web page and HTTP API, one
 * document per token, `{ token_id, token_hash (hex SHA-256), created_at,
 * revoked_at? }`. Like a worker's token, the token is shown once and only its
 * hash is stored; a revoked token stays listed (when, by which id) but no
 * longer opens anything. Apart from the registry's collections, so that the
 * inventory and the keys to read it never share a `find()`.
 */
export const ADMIN_TOKENS_COLLECTION = 'ADMIN_TOKENS';

/** A token's public handle: 8 random bytes in hex, safe to show, log and type. */
export const ADMIN_TOKEN_ID_PATTERN = /^[0-9a-f]{16}$/;

export interface AdminTokenInfo {
  token_id: string;
  /** What the admin said the token is for (`--label`), or null. */
  label: string | null;
  created_at: Date;
  revoked_at: Date | null;
}

/** A label: what a token is for ("prometheus", "alice"), shown by `--list`; one line of printable text. */
export const ADMIN_TOKEN_LABEL_MAX_LENGTH = 64;
export function isAdminTokenLabel(label: string): boolean {
  return label.length >= 1 && label.length <= ADMIN_TOKEN_LABEL_MAX_LENGTH && !/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(label) && label.trim() === label;
}

export interface AdminTokenStore {
  /** A new token, labelled if `label` is given; the token itself is returned here and never again. */
  issue(options?: { label?: string | undefined }): Promise<{ token_id: string; token: string }>;
  /** Every token issued, oldest first, without hashes. */
  list(): Promise<AdminTokenInfo[]>;
  /** Marks the token revoked; false if no such token or already revoked. */
  revoke(tokenId: string): Promise<boolean>;
  /** The id of the live token that hashes like `token`, or null. */
  verify(token: string): Promise<string | null>;
  /** Whether the token with this id is live (issued, not revoked): what a web session re-checks. */
  isLive(tokenId: string): Promise<boolean>;
  /** The ids of every live token, in one read: what the open event streams re-check together. */
  liveIds(): Promise<Set<string>>;
}

interface AdminTokenDocument {
  token_id: string;
  token_hash: string;
  label?: string;
  created_at: Date;
  revoked_at?: Date;
}

export interface AdminTokenStoreOptions {
  now?: () => Date;
  randomBytes?: RandomBytes;
  describeDatabase?: string;
}


export function createAdminTokenStore(db: Db, options: AdminTokenStoreOptions = {}): AdminTokenStore {
  const now = options.now ?? (() => new Date());
  const randomBytes = options.randomBytes ?? cryptoRandomBytes;
  const where = options.describeDatabase ?? describeHosts(db);
  const tokens = db.collection<AdminTokenDocument>(ADMIN_TOKENS_COLLECTION);

  return {
    async issue(issueOptions = {}) {
      const token = generateToken(randomBytes);
      const tokenId = randomBytes(8).toString('hex');
      const label = issueOptions.label === undefined ? {} : { label: issueOptions.label };
      await guard(where, () => tokens.insertOne({ token_id: tokenId, token_hash: hashToken(token), ...label, created_at: now() }));
      return { token_id: tokenId, token };
    },

    async list() {
      const docs = await guard(where, () =>
        tokens.find({}, { projection: { _id: 0, token_hash: 0 }, batchSize: SINGLE_BATCH_SIZE }).toArray(),
      );
      return docs
        .map((doc) => ({
          token_id: String(doc.token_id),
          label: typeof doc.label === 'string' ? doc.label : null,
          created_at: doc.created_at,
          revoked_at: doc.revoked_at ?? null,
        }))
        .sort((a, b) => a.created_at.getTime() - b.created_at.getTime());
    },

    async revoke(tokenId) {
      if (!ADMIN_TOKEN_ID_PATTERN.test(tokenId)) return false;
      const result = await guard(where, () =>
        tokens.updateOne({ token_id: tokenId, revoked_at: { $exists: false } }, { $set: { revoked_at: now() } }),
      );
      return result.modifiedCount === 1;
    },

    async verify(token) {
      if (typeof token !== 'string' || !ISSUED_TOKEN_PATTERN.test(token)) return null;
      // Looked up by its hash: the token is 256 random bits, so the hash is
      // as unguessable as the token, and no comparison loop runs in our code.
      const doc = await guard(where, () =>
        tokens.findOne({ token_hash: hashToken(token), revoked_at: { $exists: false } }, { projection: { token_id: 1 } }),
      );
      return doc === null ? null : String(doc.token_id);
    },

    async isLive(tokenId) {
      if (!ADMIN_TOKEN_ID_PATTERN.test(tokenId)) return false;
      const doc = await guard(where, () => tokens.findOne({ token_id: tokenId, revoked_at: { $exists: false } }, { projection: { token_id: 1 } }));
      return doc !== null;
    },

    async liveIds() {
      const docs = await guard(where, () =>
        tokens.find({ revoked_at: { $exists: false } }, { projection: { _id: 0, token_id: 1 }, batchSize: SINGLE_BATCH_SIZE }).toArray(),
      );
      return new Set(docs.map((doc) => String(doc.token_id)));
    },
  };
}
