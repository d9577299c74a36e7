import type { Db } from 'mongodb';
import { createAdminTokenStore } from '../../registry/admin-token-store.js';
import { createWorkerRegistry } from '../../registry/worker-registry.js';
import type { MasterParts } from '../wiring.js';
import { createFleetApi, type RouteHandler } from './fleet-api.js';

/**
 * The admin side of the master's HTTP port, built on its database. A master
 * made without one (unit tests with fake ports) has no admin side: those
 * paths answer 404 like any unknown path.
 */
export function adminRoutesFor(db: Db | undefined, parts: Pick<MasterParts, 'clock' | 'logger'>): RouteHandler | undefined {
  if (db === undefined) return undefined;
  return createFleetApi({
    adminTokens: createAdminTokenStore(db),
    workers: createWorkerRegistry(db),
    clock: parts.clock,
    logger: parts.logger,
  });
}
