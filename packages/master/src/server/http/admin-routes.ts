import type { Db } from 'mongodb';
import { createAdminTokenStore } from '../../registry/admin-token-store.js';
import { createAdmissionVersion } from '../../registry/admission-version.js';
import { createWorkerRegistry } from '../../registry/worker-registry.js';
import { createWriteHorizon } from '../../registry/write-horizon.js';
import type { MasterParts } from '../master-parts.js';
import { LogBudget } from '../admission/log-budget.js';
import { failureLimitFor } from '../admission/failure-limit.js';
import { AdminAuthLimit } from './admin-auth.js';
import { createEventsStream } from './events-stream.js';
import { createFleetApi, type RouteHandler } from './fleet-api.js';
import { FleetFeed } from './fleet-feed.js';
import { createWebPage } from './web-page.js';
import { createWorkerEventsApi } from './worker-events-api.js';
import { createWorkerEventStore } from '../../history/event-store.js';
import { faviconRoute } from './favicon.js';
import { WebSessions } from './web-sessions.js';

/** How often the open pages' shared view lays this master's own changes over it and reads the admission version. */
export const FLEET_REFRESH_MS = 1_000;
/** Refused admin credentials logged per second at most; the rest are counted in one line. */
export const REFUSAL_LINES_PER_SECOND = 20;

/**
 * The admin side of the master's HTTP port, built on its database. A master
 * made without one (unit tests with fake ports) has no admin side: those
 * paths answer 404 like any unknown path.
 */
export function adminRoutesFor(
  db: Db | undefined,
  parts: Pick<MasterParts, 'clock' | 'logger' | 'host' | 'view' | 'options' | 'writer' | 'identity' | 'sweeper'>,
): { routes: RouteHandler; feed: FleetFeed } | undefined {
  if (db === undefined) return undefined;
  const adminTokens = createAdminTokenStore(db);
  const workers = createWorkerRegistry(db);
  const horizon = createWriteHorizon(db);
  const { clock, logger, host, view } = parts;
  // A re-read admission view may carry other specs for held workers (an admin update).
  let viewRefreshes = 0;
  view.onRefresh(() => {
    viewRefreshes += 1;
  });
  const feed = new FleetFeed({
    source: workers,
    local: {
      heldWorkerIds: () => [...host.sessions.values()].map((s) => s.workerId),
      specsOf: (id) => view.get(id)?.specs,
      changes: () => host.sessions.changes + host.specsSet + viewRefreshes,
    },
    version: createAdmissionVersion(db),
    clock,
    logger,
    intervalMs: FLEET_REFRESH_MS,
    fullReadMs: parts.options.fleetFullReadMs,
    otherMasters: (sinceMs) => horizon.activitySince(sinceMs, parts.identity.instanceId),
    sweptFlags: () => parts.sweeper.flaggedTotal,
  });
  parts.writer.onWritten((written) => {
    if (written.kind === 'heartbeats') feed.heartbeatsWritten(written.workerIds, written.second, written.at);
    else feed.inventoriesWritten();
  });
  const sessions = new WebSessions(clock.now);
  const refusalBudget = new LogBudget({
    perWindow: REFUSAL_LINES_PER_SECOND,
    windowMs: 1_000,
    clock,
    onSuppressed: (_key, count) => logger.warn({ count }, 'admin requests refused: lines left out'),
  });
  const sessionOf = sessions.of.bind(sessions);
  const authLimit = new AdminAuthLimit(failureLimitFor(parts.options, clock));
  const handlers = [
    faviconRoute,
    createWebPage({ adminTokens, sessions, logger, refusalBudget, authLimit, secure: parts.options.tls !== undefined, maxBodyBytes: parts.options.maxBodyBytes }),
    createFleetApi({ adminTokens, workers, clock, logger, sessionOf, refusalBudget, authLimit }),
    createWorkerEventsApi({ adminTokens, events: createWorkerEventStore(db), clock, logger, sessionOf, refusalBudget, authLimit }),
    createEventsStream({
      adminTokens,
      feed,
      logger,
      sessionOf,
      sessionLasts: (id) => sessions.get(id) !== undefined,
      refusalBudget,
      authLimit,
      clock,
      keepaliveMs: parts.options.eventsKeepaliveMs,
      maxStreams: parts.options.maxEventStreams,
      maxStreamsPerToken: parts.options.maxEventStreamsPerToken,
    }),
  ];
  return { routes: (req, res, path) => handlers.some((handle) => handle(req, res, path)), feed };
}
