import type { Db, Document } from 'mongodb';
import { COLLECTIONS } from './collections.js';
import { describeHosts, guard } from './driver-errors.js';

/** How many worker documents and credentials the database holds. */
export interface AdmissionCounts {
  workers: number;
  credentials: number;
}

/**
 * The counts of WORKER_REGISTRY and WORKER_CREDENTIALS documents, from the
 * collections' statistics (`$collStats: { count: {} }`), not from a scan:
 * on the dev database a `count` or `countDocuments` decodes every document
 * (about as much of its CPU as reading them all), `$collStats` asks SQLite
 * for the number of rows (~2 % of that); MongoDB answers it from the
 * collection's metadata.
 *
 * The master's admission view compares them with what its last full read
 * found: a document inserted or deleted by hand (mongosh sets no admission
 * version) changes one of them, and the view is read again. An edit in place
 * (a token hash or a worker_ip set by hand) changes neither; the periodic
 * full read is what catches those (server/admission/view.ts). A count that
 * is off (MongoDB's metadata after an unclean shutdown) differs from what the
 * read returned and costs a full read at each check; an edit that happens to
 * bring it back to the read's number is left to the periodic full read.
 */
export interface AdmissionCountsReader {
  read(): Promise<AdmissionCounts>;
}

export function createAdmissionCounts(db: Db, options: { describeDatabase?: string } = {}): AdmissionCountsReader {
  const where = options.describeDatabase ?? describeHosts(db);
  const countOf = async (name: string): Promise<number> => {
    const stats = await guard(where, () => db.collection(name).aggregate<Document>([{ $collStats: { count: {} } }]).toArray());
    // A sharded collection answers one document per shard.
    let total = 0;
    for (const shard of stats) {
      const count: unknown = shard.count;
      if (typeof count !== 'number' || !Number.isFinite(count)) throw new TypeError(`$collStats of ${name} gave no count`);
      total += count;
    }
    return total;
  };
  return {
    async read() {
      const [workers, credentials] = await Promise.all([countOf(COLLECTIONS.workers), countOf(COLLECTIONS.credentials)]);
      return { workers, credentials };
    },
  };
}
