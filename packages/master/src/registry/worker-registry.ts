import type { Db } from 'mongodb';
import { createAdmissionVersion } from './admission-version.js';
import { adminOperations } from './admin-operations.js';
import { agentPathOperations } from './agent-path-operations.js';
import { queryOperations } from './worker-queries.js';
import { COLLECTIONS } from './collections.js';
import { describeHosts, guard } from './driver-errors.js';
import type { RegistryContext, WorkerRegistry } from './worker-registry-types.js';

export type { RegistryContext, WorkerRegistry } from './worker-registry-types.js';

export interface WorkerRegistryOptions {
  /** Clock for registered_at/updated_at on the admin paths. */
  now?: () => Date;
  /** Names the database in DatabaseUnavailableError; default: the client's host list. */
  describeDatabase?: string;
  /**
   * Most update statements updateSpecs sends in one command (default 25).
   * FerretDB 1.24 (SQLite) keeps one pooled connection per statement open
   * until the command ends, and its pool holds 100: one update command with
   * 100 statements (or several concurrent ones adding up to that) hangs
   * forever. Real MongoDB takes 100,000; raise this when only it is used.
   */
  maxUpdatesPerCommand?: number;
}

export const DEFAULT_MAX_UPDATES_PER_COMMAND = 25;

export function createWorkerRegistry(db: Db, options: WorkerRegistryOptions = {}): WorkerRegistry {
  const clock = options.now ?? (() => new Date());
  const where = options.describeDatabase ?? describeHosts(db);
  const context: RegistryContext = {
    db,
    workers: db.collection(COLLECTIONS.workers),
    run: (operation) => guard(where, operation),
    clock,
    version: createAdmissionVersion(db, { now: clock, describeDatabase: where }),
    maxUpdatesPerCommand: Math.max(1, Math.floor(options.maxUpdatesPerCommand ?? DEFAULT_MAX_UPDATES_PER_COMMAND)),
  };
  return { ...adminOperations(context), ...queryOperations(context), ...agentPathOperations(context) };
}
