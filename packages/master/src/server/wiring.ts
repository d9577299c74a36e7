import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { CloseCode, DEFAULTS } from '@cluster/protocol';
import { Registry as MetricsRegistry } from 'prom-client';
import { WebSocketServer } from 'ws';
import { FLEET_GAUGE_DEFAULTS, registerFleetGauges, type FleetStateSource } from '../metrics/fleet-gauges.js';
import { createMasterMetrics } from '../metrics/metrics.js';
import { registerReadyGauge } from '../metrics/ready-gauge.js';
import { createAdmissionCounts } from '../registry/admission-counts.js';
import { createAdmissionVersion } from '../registry/admission-version.js';
import { createAdmissionSnapshotStore } from '../registry/admission-snapshot.js';
import { createCredentialStore } from '../registry/credential-store.js';
import { tokensMatch } from '../registry/token.js';
import { createWorkerRegistry } from '../registry/worker-registry.js';
import { AddressMatcher, systemLookupAll } from './admission/address.js';
import { RefusalLog } from './admission/refusal-log.js';
import { RetrySpread } from './admission/retry-spread.js';
import { UpgradeAdmission, addressOf } from './admission/upgrade.js';
import { enrollmentFor } from './admission/enrollment-wiring.js';
import { AdmissionView } from './admission/view.js';
import { systemClock } from './clock.js';
import { DbHealth } from './db-health.js';
import { createMasterHttpServer } from './http-server.js';
import { failureLimitFor } from './admission/failure-limit.js';
import { adminRoutesFor } from './http/admin-routes.js';
import { LivenessMonitor } from './liveness/monitor.js';
import { RecentArrivals } from './liveness/recent-arrivals.js';
import { LivenessTracker } from './liveness/rules.js';
import { StaleSweeper } from './liveness/stale-sweep.js';
import { createWriteHorizon } from '../registry/write-horizon.js';
import type { CreateMasterOptions } from './create-master-options.js';
import type { MasterParts } from './master-parts.js';
import { resolveServerOptions } from './options.js';
import { AgentSession } from './session/agent-session.js';
import { SessionHost } from './session/session-host.js';
import { sessionsToClose } from './session/sessions-to-close.js';
import { Startup } from './startup.js';
import { HeartbeatWriter } from './writes/heartbeat-writer.js';
import { createWorkerHistory } from '../history/create-history.js';

/** The registry side: admission view, heartbeat write loop, sessions, liveness, start-up. */
export function wireParts(deps: CreateMasterOptions): MasterParts {
  const options = resolveServerOptions(deps.options);
  const clock = deps.clock ?? systemClock;
  const registry = deps.registry ?? (deps.db === undefined ? undefined : createWorkerRegistry(deps.db));
  const credentials = deps.credentials ?? (deps.db === undefined ? undefined : createCredentialStore(deps.db));
  if (registry === undefined || credentials === undefined) {
    throw new TypeError('createMaster needs `db`, or both `registry` and `credentials`');
  }
  const { logger } = deps;
  const identity = deps.identity ?? { pid: process.pid, instanceId: randomUUID() };
  const metricsRegistry = deps.metricsRegistry ?? new MetricsRegistry();
  const metrics = createMasterMetrics(metricsRegistry);
  const health = new DbHealth(logger, clock);
  const history = createWorkerHistory(deps.db, { clock, logger, metricsRegistry, instance: identity.instanceId, options });
  const view = new AdmissionView({
    registry,
    credentials,
    clock,
    health,
    logger,
    missRefreshMinIntervalMs: options.missRefreshMinIntervalMs,
    version: deps.admissionVersion ?? (deps.db === undefined ? undefined : createAdmissionVersion(deps.db)),
    counts: deps.db === undefined ? undefined : createAdmissionCounts(deps.db),
    countCheckMs: options.viewCountCheckMs,
    fullRefreshMs: options.viewFullRefreshMs,
    snapshot: deps.admissionSnapshot ?? (deps.db === undefined ? undefined : createAdmissionSnapshotStore(deps.db)),
  });
  const tracker = new LivenessTracker(clock.monotonic);
  const arrivals = new RecentArrivals();
  const { heartbeatIntervalMs, heartbeatTimeoutMs } = options;
  // With other masters live, published at most every 250 ms (each flush at the default 1 s): their
  // sweeps' cutoffs are then at most that much older than need be. Alone, once per sweep interval.
  const horizon =
    deps.db === undefined
      ? undefined
      : {
          port: createWriteHorizon(deps.db),
          instanceId: identity.instanceId,
          serving: (): boolean => host.sessions.size > 0,
          publishEveryMs: Math.max(250, options.flushIntervalMs),
          aloneEveryMs: Math.max(250, options.flushIntervalMs, options.sweepIntervalMs),
        };
  const sweeper = new StaleSweeper({
    registry, clock, health, metrics, logger, heartbeatTimeoutMs, intervalMs: options.sweepIntervalMs, horizon,
    onSwept: history === undefined ? undefined : (now, flagged) => history.swept(now, flagged),
    unwrittenAdmissions: (): ReadonlySet<string> => new Set([...writer.unwrittenAdmissions, ...arrivals.within(clock.monotonic(), heartbeatTimeoutMs)]),
  });
  const writer = new HeartbeatWriter({
    registry,
    clock,
    health,
    metrics,
    logger,
    flushIntervalMs: options.flushIntervalMs,
    retryBaseMs: options.retryBaseMs,
    // The writer's retry is what finds the database back after an outage: heartbeats must
    // reach it within about a second of its return, whatever the backoff of other work.
    retryCapMs: Math.min(options.retryCapMs, Math.max(1_000, options.flushIntervalMs)),
    finalFlushTimeoutMs: options.finalFlushTimeoutMs,
    maxSpecsPerFlush: options.maxSpecsPerFlush,
    onUnregistered: (ids) => {
      logger.info({ worker_ids: ids }, 'heartbeat matched no document: worker unregistered');
      view.forget(ids);
      host.closeWorkers(ids, CloseCode.unregistered, 'worker unregistered', 'unregistered');
    },
    afterFlush: (writtenAsOfMs) => sweeper.maybeSweep(writtenAsOfMs),
    onFlagged: history === undefined ? undefined : (ids, now, changed) => history.flagged(ids, now, changed),
    onSpecsWritten: history === undefined ? undefined : (what, ids, modified) => history.changesWritten(what, ids, modified),
  });
  const host = new SessionHost({ view, writer, liveness: tracker, metrics, logger, history });
  const monitor = new LivenessMonitor({ tracker, host, clock, heartbeatIntervalMs, heartbeatTimeoutMs, tickMs: options.livenessTickMs });
  view.onRefresh((refresh) => {
    for (const verdict of sessionsToClose(host.open, refresh)) {
      logger.info({ worker_id: verdict.session.workerId, code: verdict.code, reason: verdict.reason }, 'closing session');
      verdict.session.close(verdict.code, verdict.reason, verdict.cause);
    }
  });
  const refusals = new RefusalLog({
    logger, metrics, clock, linesPerSecond: options.refusalLogsPerSecond,
    // A registered worker's refusal goes into its history (an unknown id has none).
    onWorkerRefused: (workerId, reason, address) => {
      if (reason !== 'unknown_worker' && view.get(workerId) !== undefined) history?.refused(workerId, reason, address);
    },
  });
  const startup = newStartup(deps, { options, clock, logger, registry, view, health, sweeper });
  return { options, clock, logger, registry, credentials, metrics, metricsRegistry, health, view, sweeper, writer, host, monitor, refusals, startup, identity, history, arrivals };
}

function newStartup(
  deps: CreateMasterOptions,
  parts: Pick<MasterParts, 'options' | 'clock' | 'logger' | 'registry' | 'view' | 'health' | 'sweeper'>,
): Startup {
  const { options, logger, view } = parts;
  return new Startup({
    connect: deps.connect,
    registry: parts.registry,
    sweepAtStart: () => parts.sweeper.sweepAtStart(),
    loadView: async () => {
      const loaded = await view.refresh();
      if (loaded) logger.info({ workers: view.size }, 'registry loaded');
      return loaded;
    },
    health: parts.health,
    logger,
    clock: parts.clock,
    retryBaseMs: options.retryBaseMs,
    retryCapMs: options.retryCapMs,
  });
}

/** The network side: the HTTP(S) server and the upgrade path into sessions. */
export function wireEndpoint(
  parts: MasterParts,
  deps: Pick<CreateMasterOptions, 'lookup' | 'verifyToken' | 'db'>,
  accepting: () => boolean,
  notReadyReason: () => string | null,
): { server: Server; wss: WebSocketServer; upgrades: UpgradeAdmission } {
  const { options, clock, logger, metrics, view, host, refusals, history } = parts;
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: options.maxMessageBytes, clientTracking: false });
  const addresses = new AddressMatcher(deps.lookup ?? systemLookupAll, clock, options.dnsCacheTtlMs);
  // Only while the start-up goes well: with the database failing, the load's end is unknown and a
  // fleet told "2 s" forever would knock harder than its own backoff does.
  const spread = new RetrySpread({
    minMs: options.loadingRetryAfterMs,
    // Past half the cap the agent's window [wait, 2·wait) is cut at the cap and the returns pile there.
    maxMs: Math.max(options.loadingRetryAfterMs, DEFAULTS.reconnectCapMs / 2),
    perSecond: options.loadingRetrySpreadPerS,
    now: () => clock.monotonic(),
  });
  const loadingRetryAfterS = (): number | undefined => (parts.health.failing ? undefined : spread.nextS());
  const upgrades = new UpgradeAdmission({
    wss,
    view,
    addresses,
    enrollment: enrollmentFor(deps.db, {
      view, addresses, checkSourceAddress: options.checkSourceAddress, logger, closeTimeoutMs: options.helloTimeoutMs, now: () => new Date(clock.now()), loadingRetryAfterS,
      onEnrolled: history === undefined ? undefined : (workerId, tokenId, address) => history.record(workerId, 'enrolled', null, { address: address ?? null, enrollment_token_id: tokenId }),
    }),
    verifyToken: deps.verifyToken ?? tokensMatch,
    failures: failureLimitFor(options, clock),
    checkSourceAddress: options.checkSourceAddress,
    loadingRetryAfterS,
    inFlight: {
      max: options.maxAdmissionsInFlight,
      // Sessions admitted whose hello has not come yet: every open one but the current ones.
      awaitingHello: () => Math.max(0, host.open.size - host.sessions.size),
      retryAfterS: () => spread.nextS(),
    },
    hold: {
      max: options.maxHeldUpgrades,
      holdMs: options.upgradeHoldMs,
      clock,
      whileLoading: () => !parts.health.failing,
      metrics,
    },
    refusals,
    logger,
    accepting,
    onAdmitted: (ws, admitted, address) => {
      // Counted once ws completed the handshake: an admission is a WebSocket that exists.
      metrics.admissions.inc();
      parts.arrivals.note(admitted.workerId, clock.monotonic());
      const peer = { ...admitted, address: address ?? 'unknown' };
      const session = new AgentSession(ws, peer, host, { clock, logger, metrics }, options);
      if (!accepting()) session.close(CloseCode.shuttingDown, 'shutting down', 'shutdown');
      host.attach(session);
      logger.debug({ worker_id: admitted.workerId, address }, 'upgrade accepted');
    },
  });
  // What lets a held upgrade go on: the view loaded, an admission in flight ended; and an outage
  // while the view loads, which ends the holding for the load (refused then, with no Retry-After).
  view.onRefresh(upgrades.takeHeld);
  host.onAdmissionEnded(upgrades.takeHeld);
  parts.health.onOutage(upgrades.takeHeld);
  const admin = adminRoutesFor(deps.db, parts);
  // The registry-wide gauges read the page's feed at scrape time (a master without a database has neither).
  // Not while the master comes up (view loading, then its agents' return for one heartbeat timeout): a read of
  // every document then competed with the view's load and the returning agents' writes (false flags in the storm).
  const settled = (): boolean => {
    const since = parts.sweeper.admittingSinceMs;
    return since !== undefined && clock.monotonic() - since >= (options.fleetGaugeQuietAfterLoadMs ?? options.heartbeatTimeoutMs);
  };
  const gaugeSource = admin === undefined ? undefined : { stateForScrape: readAfter(settled, admin.feed) };
  if (gaugeSource !== undefined) registerFleetGauges(parts.metricsRegistry, gaugeSource, { ...FLEET_GAUGE_DEFAULTS, maxAgeMs: options.fleetGaugeMaxAgeMs });
  registerReadyGauge(parts.metricsRegistry, notReadyReason);
  const server = createMasterHttpServer({
    tls: options.tls,
    agentPath: DEFAULTS.agentPath,
    maxHeaderBytes: options.maxHeaderBytes,
    maxBodyBytes: options.maxBodyBytes,
    requestTimeoutMs: options.requestTimeoutMs,
    identity: parts.identity,
    metricsRegistry: parts.metricsRegistry,
    notReadyReason,
    onUpgrade: upgrades.onUpgrade,
    onStrayUpgrade: upgrades.onStrayUpgrade,
    onRefused: (refusal) => refusals.http({ ...refusal, address: addressOf({ remoteAddress: refusal.address }) }),
    adminRoutes: admin?.routes,
  });
  return { server, wss, upgrades };
}

/** The feed's read for a scrape once `settled()` says so; before that, nothing (the gauges stay unset). */
function readAfter(settled: () => boolean, feed: FleetStateSource): FleetStateSource['stateForScrape'] {
  return (maxAgeMs, waitMs) => (settled() ? feed.stateForScrape(maxAgeMs, waitMs) : Promise.resolve(undefined));
}
