import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloseCode, DEFAULTS } from '@cluster/protocol';
import type { Db } from 'mongodb';
import type { Logger } from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import { WebSocketServer } from 'ws';
import { createMasterMetrics, type MasterMetrics } from '../metrics/metrics.js';
import { createAdmissionVersion } from '../registry/admission-version.js';
import { createCredentialStore } from '../registry/credential-store.js';
import { tokensMatch } from '../registry/token.js';
import { createWorkerRegistry } from '../registry/worker-registry.js';
import { AddressMatcher, systemLookupAll, type LookupAll } from './admission/address.js';
import { RefusalLog } from './admission/refusal-log.js';
import { UpgradeAdmission, addressOf } from './admission/upgrade.js';
import { AdmissionView } from './admission/view.js';
import { every, systemClock, type Clock } from './clock.js';
import { DbHealth } from './db-health.js';
import { createMasterHttpServer } from './http-server.js';
import { LivenessMonitor } from './liveness/monitor.js';
import { LivenessTracker } from './liveness/rules.js';
import { StaleSweeper } from './liveness/stale-sweep.js';
import { resolveServerOptions, type ServerOptions } from './options.js';
import type { AdmissionVersionPort, CredentialsPort, RegistryPort, TokenVerifier } from './ports.js';
import { AgentSession } from './session/agent-session.js';
import { SessionHost } from './session/session-host.js';
import { sessionsToClose } from './session/sessions-to-close.js';
import { closeSessions, stopListening } from './session/shutdown.js';
import { Startup } from './startup.js';
import { HeartbeatWriter } from './writes/heartbeat-writer.js';

export interface CreateMasterOptions {
  /** The database: the registry and the credential store are built on it unless given below. */
  db?: Db;
  /** The registry data layer (or a fake with the same methods); default createWorkerRegistry(db). */
  registry?: RegistryPort;
  /** Default createCredentialStore(db). */
  credentials?: CredentialsPort;
  /** The registry's admission version; default createAdmissionVersion(db). Without one (no db), every view check re-reads the whole view. */
  admissionVersion?: AdmissionVersionPort;
  /** Constant-time check of a presented token against a stored hash; default tokensMatch. */
  verifyToken?: TokenVerifier;
  /**
   * Connects the database client; called (and retried with backoff) before
   * anything else. Pass `() => client.connect()`: after a failed first
   * connection the driver's topology stays closed until connect() is called again.
   */
  connect?: () => Promise<unknown>;
  /** Called last in close(): pass it when the master owns the database client. */
  closeDatabase?: () => Promise<void>;
  logger: Logger;
  /** Wall clock, monotonic clock and timers of everything the master does; default systemClock. */
  clock?: Clock;
  /** Where the metrics are registered; a fresh one when absent. */
  metricsRegistry?: MetricsRegistry;
  /** Host name resolution for worker_ip host names. */
  lookup?: LookupAll;
  options?: Partial<ServerOptions>;
}

export interface Master {
  /** Listens, then loads the registry in the background (retrying); resolves with the bound port. */
  start(): Promise<{ port: number }>;
  /** Graceful shutdown; idempotent (every call returns the same promise). */
  close(): Promise<void>;
  /** The bound address, once listening. */
  address(): AddressInfo | undefined;
  readonly metrics: MasterMetrics;
  readonly metricsRegistry: MetricsRegistry;
  /** Why /readyz says 503, or null when it says 200. */
  notReadyReason(): string | null;
  [Symbol.asyncDispose](): Promise<void>;
}

type State = 'new' | 'starting' | 'running' | 'closing' | 'closed';

/**
 * The agents' endpoint, wired: the HTTP(S) server with admission at the
 * upgrade (admission/), one session per connection (session/), the heartbeat
 * write loop (writes/), liveness and the stale sweep (liveness/), start-up
 * (startup.ts) and graceful shutdown. Touches no process state: main.ts and
 * the serve command own signals and exit codes.
 */
export function createMaster(deps: CreateMasterOptions): Master {
  const options = resolveServerOptions(deps.options);
  const clock = deps.clock ?? systemClock;
  const registry = deps.registry ?? (deps.db === undefined ? undefined : createWorkerRegistry(deps.db));
  const credentials = deps.credentials ?? (deps.db === undefined ? undefined : createCredentialStore(deps.db));
  if (registry === undefined || credentials === undefined) {
    throw new TypeError('createMaster needs `db`, or both `registry` and `credentials`');
  }
  const { logger } = deps;
  const metricsRegistry = deps.metricsRegistry ?? new MetricsRegistry();
  const metrics = createMasterMetrics(metricsRegistry);
  const health = new DbHealth(logger, clock);
  const view = new AdmissionView({
    registry,
    credentials,
    clock,
    health,
    logger,
    missRefreshMinIntervalMs: options.missRefreshMinIntervalMs,
    version: deps.admissionVersion ?? (deps.db === undefined ? undefined : createAdmissionVersion(deps.db)),
    fullRefreshMs: options.viewFullRefreshMs,
  });
  const tracker = new LivenessTracker(clock.monotonic);
  const sweeper = new StaleSweeper({ registry, clock, health, metrics, logger, heartbeatTimeoutMs: options.heartbeatTimeoutMs, intervalMs: options.sweepIntervalMs });
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
  });
  const host = new SessionHost({ view, writer, liveness: tracker, metrics, logger });
  const monitor = new LivenessMonitor({
    tracker,
    host,
    clock,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs,
    tickMs: options.livenessTickMs,
  });
  view.onRefresh((refresh) => {
    for (const verdict of sessionsToClose(host.open, refresh)) {
      logger.info({ worker_id: verdict.session.workerId, code: verdict.code, reason: verdict.reason }, 'closing session');
      verdict.session.close(verdict.code, verdict.reason, verdict.cause);
    }
  });
  const refusals = new RefusalLog({ logger, metrics, clock, linesPerSecond: options.refusalLogsPerSecond });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: options.maxMessageBytes, clientTracking: false });

  let state: State = 'new';
  let stopViewChecks: (() => void) | undefined;
  let started: Promise<{ port: number }> | undefined;
  let closing: Promise<void> | undefined;
  const startup = new Startup({
    connect: deps.connect,
    registry,
    sweepAtStart: () => sweeper.sweepAtStart(),
    loadView: async () => {
      const loaded = await view.refresh();
      if (loaded) logger.info({ workers: view.size }, 'registry loaded');
      return loaded;
    },
    health,
    logger,
    clock,
    retryBaseMs: options.retryBaseMs,
    retryCapMs: options.retryCapMs,
  });

  const notReadyReason = (): string | null => {
    if (state !== 'running') return state === 'closing' || state === 'closed' ? 'shutting down' : 'starting';
    if (!view.loaded) return 'registry not loaded yet';
    if (!health.ok) return 'database unreachable';
    return null;
  };

  const upgrades = new UpgradeAdmission({
    wss,
    view,
    addresses: new AddressMatcher(deps.lookup ?? systemLookupAll, clock, options.dnsCacheTtlMs),
    verifyToken: deps.verifyToken ?? tokensMatch,
    checkSourceAddress: options.checkSourceAddress,
    refusals,
    logger,
    accepting: () => state === 'running',
    onAdmitted: (ws, admitted, address) => {
      // Counted once ws completed the handshake: an admission is a WebSocket that exists.
      metrics.admissions.inc();
      const peer = { workerId: admitted.workerId, address: address ?? 'unknown', tokenHash: admitted.tokenHash, viewSeq: admitted.viewSeq };
      const session = new AgentSession(ws, peer, host, { clock, logger, metrics }, options);
      if (state !== 'running') session.close(CloseCode.shuttingDown, 'shutting down', 'shutdown');
      host.attach(session);
      logger.debug({ worker_id: admitted.workerId, address }, 'upgrade accepted');
    },
  });

  const server: Server = createMasterHttpServer({
    tls: options.tls,
    agentPath: DEFAULTS.agentPath,
    maxHeaderBytes: options.maxHeaderBytes,
    requestTimeoutMs: options.requestTimeoutMs,
    metricsRegistry,
    notReadyReason,
    onUpgrade: upgrades.onUpgrade,
    onStrayUpgrade: upgrades.onStrayUpgrade,
    onRefused: (refusal) => refusals.http({ ...refusal, address: addressOf({ remoteAddress: refusal.address }) }),
  });

  const listen = (): Promise<AddressInfo> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve(server.address() as AddressInfo);
      });
    });

  const start = (): Promise<{ port: number }> => {
    started ??= (async () => {
      if (state !== 'new') throw new Error('master already closed');
      state = 'starting';
      const bound = await listen();
      // close() was called while we were binding: it takes over from here.
      if (state !== 'starting') return { port: bound.port };
      state = 'running';
      sweeper.startNow();
      writer.start();
      monitor.start();
      void startup.run().then((loaded) => {
        if (loaded) stopViewChecks = every(clock, options.viewRefreshMs, () => void view.check());
      });
      logger.info({ host: bound.address, port: bound.port, tls: options.tls !== undefined, path: DEFAULTS.agentPath }, 'listening');
      return { port: bound.port };
    })();
    return started;
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      const wasListening = state === 'running' || state === 'starting';
      state = 'closing';
      if (started !== undefined) await started.catch(() => undefined);
      stopViewChecks?.();
      startup.stop();
      view.close();
      monitor.stop();
      const released = stopListening(server);
      await closeSessions(host.open, CloseCode.shuttingDown, 'shutting down', 'shutdown');
      server.closeAllConnections();
      await writer.stop();
      await released;
      wss.close();
      refusals.close();
      await closeDatabase(deps.closeDatabase, logger);
      state = 'closed';
      if (wasListening) logger.info('closed');
    })();
    return closing;
  };

  return {
    start,
    close,
    address: () => {
      const a = server.address();
      return a !== null && typeof a === 'object' ? a : undefined;
    },
    metrics,
    metricsRegistry,
    notReadyReason,
    [Symbol.asyncDispose]: close,
  };
}

async function closeDatabase(close: (() => Promise<void>) | undefined, logger: Logger): Promise<void> {
  if (close === undefined) return;
  try {
    await close();
  } catch (error) {
    logger.warn({ error: error instanceof Error ? error.message : String(error) }, 'closing the database client failed');
  }
}
