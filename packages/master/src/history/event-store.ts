import type { Collection, Db, Filter } from 'mongodb';
import { MongoBulkWriteError, MongoServerError } from 'mongodb';
import { COLLECTIONS } from '../registry/collections.js';
import { DUPLICATE_KEY, isDuplicateKeyError } from '../registry/driver-errors.js';
import { WORKER_EVENTS_COLLECTION, type WorkerEvent, type WorkerEventKind } from './worker-event.js';
import { OPERATOR_OPTIONS } from '../server/options.js';

/** MongoDB's code for a command or option the server does not implement (FerretDB 1.x: TTL indexes). */
const NOT_IMPLEMENTED = 238;

/** How old events go: a TTL index (MongoDB), or the master's own prune where the server has none (FerretDB 1.x). */
export type ExpiryMode = 'ttl_index' | 'prune';

export interface EventQuery {
  workerId?: string | undefined;
  since?: Date | undefined;
  kinds?: readonly WorkerEventKind[] | undefined;
  /** Only events after this one (at, then _id): the cursor of --follow. */
  after?: { at: Date; id: string } | undefined;
  /** Newest `limit` events (still returned oldest first). */
  limit: number;
}

export interface WorkerEventStore {
  /**
   * The indexes: {worker_id, at} for the reads, {at} with expireAfterSeconds for the expiry. Idempotent.
   * `ttlSeconds` undefined keeps an existing TTL index as it is (`db init` without --event-ttl-days must not
   * undo a longer retention a master was started with) and creates a missing one with the default.
   */
  ensure(ttlSeconds: number | undefined): Promise<ExpiryMode>;
  /** One insertMany, unordered; events already there (same _id) count as written. Returns how many are in the database now. */
  insert(events: readonly WorkerEvent[]): Promise<number>;
  /** Oldest first. */
  find(query: EventQuery): Promise<WorkerEvent[]>;
  /** Deletes at most `limit` events older than `before` (one find of their ids, one delete); returns how many. */
  prune(before: Date, limit: number): Promise<number>;
  /** Which workers a flag or sweep written with `updated_at: now` left inactive (one find): see WorkerHistory. */
  flaggedAt(now: Date, ids: readonly string[] | undefined): Promise<string[]>;
}

const DEFAULT_TTL_SECONDS = OPERATOR_OPTIONS.eventTtlDays.default * 86_400;

export function createWorkerEventStore(db: Db): WorkerEventStore {
  const events: Collection<WorkerEvent> = db.collection<WorkerEvent>(WORKER_EVENTS_COLLECTION);
  const workers = db.collection(COLLECTIONS.workers);
  return {
    async ensure(ttlSeconds) {
      const existing = await events.indexes().catch((error: unknown) => {
        // NamespaceNotFound: the collection does not exist yet; createIndex creates it.
        if (error instanceof MongoServerError && error.code === 26) return [];
        throw error;
      });
      if (!existing.some((index) => JSON.stringify(index.key) === JSON.stringify({ worker_id: 1, at: 1 }))) {
        await events.createIndex({ worker_id: 1, at: 1 });
      }
      const onAt = existing.find((index) => JSON.stringify(index.key) === JSON.stringify({ at: 1 }));
      if (onAt !== undefined) {
        if (onAt.expireAfterSeconds === undefined) return 'prune';
        if (ttlSeconds !== undefined && onAt.expireAfterSeconds !== ttlSeconds) {
          // The last master or `db init` to start with a setting decides it for all.
          await db.command({ collMod: WORKER_EVENTS_COLLECTION, index: { keyPattern: { at: 1 }, expireAfterSeconds: ttlSeconds } });
        }
        return 'ttl_index';
      }
      try {
        await events.createIndex({ at: 1 }, { expireAfterSeconds: ttlSeconds ?? DEFAULT_TTL_SECONDS });
        return 'ttl_index';
      } catch (error) {
        if (!(error instanceof MongoServerError && error.code === NOT_IMPLEMENTED)) throw error;
        // The server keeps no TTL index: a plain one serves the prune's range delete.
        await events.createIndex({ at: 1 });
        return 'prune';
      }
    },

    async insert(batch) {
      if (batch.length === 0) return 0;
      try {
        const result = await events.insertMany(
          batch.map((event) => ({ ...event })),
          { ordered: false },
        );
        return result.insertedCount;
      } catch (error) {
        // A retried batch part of which had landed: the ones already there are refused by _id, the rest are written.
        if (error instanceof MongoBulkWriteError && duplicatesOnly(error)) return batch.length;
        if (isDuplicateKeyError(error)) return batch.length;
        throw error;
      }
    },

    async find(query) {
      const filter: Filter<WorkerEvent> = {};
      if (query.workerId !== undefined) filter.worker_id = query.workerId;
      if (query.kinds !== undefined && query.kinds.length > 0) filter.kind = { $in: [...query.kinds] };
      if (query.since !== undefined) filter.at = { $gte: query.since };
      if (query.after !== undefined) {
        const { at, id } = query.after;
        filter.$or = [{ at: { $gt: at } }, { at, _id: { $gt: id } }];
      }
      const newestFirst = await events.find(filter).sort({ at: -1, _id: -1 }).limit(query.limit).toArray();
      return newestFirst.reverse();
    },

    async prune(before, limit) {
      const old = await events.find({ at: { $lt: before } }, { projection: { _id: 1 } }).sort({ at: 1 }).limit(limit).toArray();
      if (old.length === 0) return 0;
      const result = await events.deleteMany({ _id: { $in: old.map((event) => event._id) } });
      return result.deletedCount;
    },

    async flaggedAt(now, ids) {
      const filter = { is_active: false, updated_at: now, ...(ids === undefined ? {} : { worker_id: { $in: [...ids] } }) };
      const found = await workers.find(filter, { projection: { _id: 0, worker_id: 1 } }).toArray();
      return found.map((doc) => String(doc.worker_id));
    },
  };
}

function duplicatesOnly(error: MongoBulkWriteError): boolean {
  const raw: unknown = error.writeErrors;
  const errors: unknown[] = Array.isArray(raw) ? raw : [raw];
  return errors.length > 0 && errors.every((e) => (e as { code?: unknown } | undefined)?.code === DUPLICATE_KEY);
}
