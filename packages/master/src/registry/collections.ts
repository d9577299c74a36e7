import type { Db, IndexDescriptionInfo } from 'mongodb';
import { isDuplicateKeyError } from './driver-errors.js';
import { RegistrySchemaError } from '../errors.js';

/** Collection names, as the contract and the existing cluster_db use them. */
export const COLLECTIONS = {
  workers: 'WORKER_REGISTRY',
  users: 'USERS',
  tasks: 'TASKS',
  assignments: 'ASSIGNMENTS',
  results: 'RESULTS',
  /**
   * Token hashes live apart from WORKER_REGISTRY so that collection keeps
   * exactly the contract's fields, and a `find()` on it shows no secrets.
   */
  credentials: 'WORKER_CREDENTIALS',
  /** One document, the admission version the admin writes set anew, so masters re-read their view only on change. */
  registryVersion: 'REGISTRY_VERSION',
  /** One document, the admission view as a master last read it, so a restarted master admits before it has read every worker (admission-snapshot.ts). */
  admissionSnapshot: 'ADMISSION_SNAPSHOT',
} as const;

interface IndexSpec {
  key: Record<string, 1>;
  unique?: boolean;
}

/** The contract's recommended indexes, plus the credentials' unique worker_id. */
export const INDEXES: Readonly<Record<string, readonly IndexSpec[]>> = {
  [COLLECTIONS.workers]: [
    { key: { worker_id: 1 }, unique: true },
    { key: { worker_ip: 1 } },
    { key: { is_active: 1 } },
    { key: { last_heartbeat: 1 } },
  ],
  [COLLECTIONS.credentials]: [{ key: { worker_id: 1 }, unique: true }],
};

/**
 * A find's first batch holds this many documents at most. Large enough that the
 * admission view or all credentials is one command (the 16 MiB reply limit, about 100,000 entries,
 * comes first); a batch size above the result count also lets the server close
 * the cursor at once, so no getMore or killCursors follows.
 */
export const SINGLE_BATCH_SIZE = 1_000_000;

const NAMESPACE_EXISTS = 48;

export interface EnsureReport {
  createdCollections: string[];
  /** `COLLECTION.index_name` of each index created now. */
  createdIndexes: string[];
}

function sameKey(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return JSON.stringify(Object.entries(a)) === JSON.stringify(Object.entries(b));
}

/**
 * Creates what is missing and leaves the rest alone, so it is safe to run at
 * every start, by several masters at once, and by `db init` again.
 *
 * Indexes are compared with what exists and created one per command. FerretDB
 * 1.24 closes the connection when one createIndexes command names several
 * indexes that already exist, and it silently accepts an index whose options
 * differ from the existing one's; checking first sidesteps both, and makes a
 * non-unique index on worker_id an error instead of a silent loss of uniqueness.
 */
export async function ensureCollections(db: Db): Promise<EnsureReport> {
  const report: EnsureReport = { createdCollections: [], createdIndexes: [] };
  const existing = new Set(
    (await db.listCollections({}, { nameOnly: true }).toArray()).map((collection) => collection.name),
  );
  for (const name of Object.values(COLLECTIONS)) {
    if (existing.has(name)) continue;
    try {
      await db.createCollection(name);
      report.createdCollections.push(name);
    } catch (error) {
      // Another process created it between our list and our create: fine.
      if ((error as { code?: unknown }).code !== NAMESPACE_EXISTS) throw error;
    }
  }
  for (const [name, specs] of Object.entries(INDEXES)) {
    const collection = db.collection(name);
    const indexes: IndexDescriptionInfo[] = await collection.indexes();
    for (const spec of specs) {
      const found = indexes.find((index) => sameKey(index.key, spec.key));
      if (found !== undefined) {
        if (spec.unique === true && found.unique !== true) {
          throw new RegistrySchemaError(
            `${name} has a non-unique index "${found.name ?? '?'}" on ${Object.keys(spec.key).join(', ')}; drop it (db.${name}.dropIndex("${found.name ?? '?'}")) and run: cluster-master db init`,
          );
        }
        continue;
      }
      let created: string;
      try {
        created = await collection.createIndex(spec.key, spec.unique === true ? { unique: true } : {});
      } catch (error) {
        if (isDuplicateKeyError(error)) {
          throw new RegistrySchemaError(
            `${name} holds several documents with the same ${Object.keys(spec.key).join(', ')}, so the unique index cannot be built; remove the duplicates and run: cluster-master db init`,
          );
        }
        throw error;
      }
      report.createdIndexes.push(`${name}.${created}`);
    }
  }
  return report;
}
