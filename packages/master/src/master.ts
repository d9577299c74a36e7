import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { CloseCode, DEFAULTS } from '@cluster/protocol';
import type { Db } from 'mongodb';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { WebSocketServer } from 'ws';
import { createCredentialStore } from './credentials/store.js';
import { createAdmissionVersion } from './registry/admission-version.js';
import { tokensMatch } from './credentials/token.js';
import { createMasterMetrics, type MasterMetrics } from './metrics/metrics.js';
import { AddressMatcher, normaliseAddress, systemLookupAll, type LookupAll } from './server/address.js';
import { decideAdmission, type Refusal } from './server/admission.js';
import { AdmissionView } from './server/admission-view.js';
import { AgentSession } from './server/agent-session.js';
import { createWorkerRegistry } from './registry/worker-registry.js';
import { retryDelayMs } from './server/backoff.js';
import { systemClock, type Clock } from './server/clock.js';
import { DbHealth } from './server/db-health.js';
import { checkHandshake } from './server/handshake.js';
import { HeartbeatWriter } from './server/heartbeat-writer.js';
import { createMasterHttpServer } from './server/http-server.js';
import { LivenessMonitor } from './server/liveness-monitor.js';
import { LivenessTracker } from './server/liveness.js';
import { resolveServerOptions, type ServerOptions } from './server/options.js';
import type { AdmissionVersionPort, CredentialsPort, RegistryPort, TokenVerifier } from './server/ports.js';
import { RefusalLog } from './server/refusal-log.js';
import { refuseUpgrade } from './server/refusal.js';
import { SessionHost } from './server/session-host.js';
import { closeSessions, stopListening } from './server/shutdown.js';
import { StaleSweeper } from './server/stale-sweep.js';
import { sessionsToClose } from './server/unregister-watcher.js';

export interface CreateMasterOptions {
  /** The database: the registry and the credential store are built on it unless given below. */
  db?: Db;
  /** The registry data layer (or a fake with the same methods); default createWorkerRegistry(db). */
  registry?: RegistryPort;
  /** Default createCredentialStore(db). */
  credentials?: CredentialsPort;
  /**
   * The registry's admission version; default createAdmissionVersion(db). Without
   * one (no db), every view check re-reads the whole view.
   */
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
  /** Wall clock (epoch ms) for what is written; default Date.now. */
  now?: () => number;
  /** Both clocks; wins over `now`. */
  clock?: Clock;
  /** Where the metrics are registered; a fresh Registry when absent. */
  metricsRegistry?: Registry;
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
  readonly metricsRegistry: Registry;
  /** Why /readyz says 503, or null when it says 200. */
  notReadyReason(): string | null;
  [Symbol.asyncDispose](): Promise<void>;
}

type State = 'new' | 'starting' | 'running' | 'closing' | 'closed';

/**
 * The agents' endpoint: HTTP(S) server with admission at the upgrade, one
 * session per connection, the coalescing heartbeat writer, liveness and the
 * stale sweep, the unregister watcher, and graceful shutdown. Touches no
 * process state: main.ts / the serve command own signals and exit codes.
 */
export function createMaster(deps: CreateMasterOptions): Master {
  const options = resolveServerOptions(deps.options);
  const clock = deps.clock ?? (deps.now === undefined ? systemClock : { now: deps.now, monotonic: systemClock.monotonic });
  const registry: RegistryPort | undefined =
    deps.registry ?? (deps.db === undefined ? undefined : createWorkerRegistry(deps.db));
  const credentials: CredentialsPort | undefined =
    deps.credentials ?? (deps.db === undefined ? undefined : createCredentialStore(deps.db));
  if (registry === undefined || credentials === undefined) {
    throw new TypeError('createMaster needs `db`, or both `registry` and `credentials`');
  }
  const verifyToken = deps.verifyToken ?? tokensMatch;
  const logger = deps.logger;
  const metricsRegistry = deps.metricsRegistry ?? new Registry();
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
  const addresses = new AddressMatcher(deps.lookup ?? systemLookupAll, clock, options.dnsCacheTtlMs);
  const tracker = new LivenessTracker(clock.monotonic);
  let sweeper: StaleSweeper | undefined;
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
    afterFlush: (writtenAsOfMs) => sweeper?.maybeSweep(writtenAsOfMs) ?? Promise.resolve(),
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
  const addressOf = (socket: { remoteAddress?: string | undefined }): string | undefined =>
    socket.remoteAddress === undefined ? undefined : normaliseAddress(socket.remoteAddress);

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: options.maxMessageBytes,
    clientTracking: false,
  });

  let state: State = 'new';
  let refreshTimer: NodeJS.Timeout | undefined;
  let initAbort: (() => void) | undefined;
  let started: Promise<{ port: number }> | undefined;
  let closing: Promise<void> | undefined;

  const notReadyReason = (): string | null => {
    if (state !== 'running') return state === 'closing' || state === 'closed' ? 'shutting down' : 'starting';
    if (!view.loaded) return 'registry not loaded yet';
    if (!health.ok) return 'database unreachable';
    return null;
  };

  const refuse = (req: IncomingMessage, socket: Duplex, refusal: Refusal, address: string | undefined): void => {
    refusals.upgrade(refusal, req.headers, address);
    refuseUpgrade(socket, refusal.status, refusal.reason);
  };
  // checkHandshake mirrors ws's checks; this is the net for any ws makes beyond them (a malformed
  // Sec-WebSocket-Protocol): refused on the same logged, counted path instead of silently by ws.
  wss.on('wsClientError', (error: Error, socket: Duplex, req: IncomingMessage) => {
    logger.debug({ error: error.message }, 'websocket handshake refused by ws');
    refuse(req, socket, { ok: false, status: 400, reason: 'invalid websocket handshake', metric: 'bad_handshake' }, addressOf(req.socket));
  });

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const ignore = (): void => undefined;
    socket.on('error', ignore);
    const address = addressOf(req.socket);
    const shuttingDown: Refusal = { ok: false, status: 503, reason: 'master shutting down', metric: 'shutting_down' };
    if (state !== 'running') {
      refuse(req, socket, shuttingDown, address);
      return;
    }
    // Before admission: a request ws would refuse costs no admission work and is never counted as admitted.
    const badHandshake = checkHandshake(req);
    if (badHandshake !== null) {
      refuse(req, socket, badHandshake, address);
      return;
    }
    decideAdmission({ view, addresses, verifyToken, checkSourceAddress: options.checkSourceAddress }, req.headers, address)
      .catch((error: unknown): Refusal => {
        logger.error({ error: error instanceof Error ? error.message : String(error) }, 'admission failed');
        return { ok: false, status: 503, reason: 'admission failed', metric: 'unavailable' };
      })
      .then((decision) => {
        if (socket.destroyed) return;
        if (state !== 'running') {
          refuse(req, socket, shuttingDown, address);
          return;
        }
        if (!decision.ok) {
          refuse(req, socket, decision, address);
          return;
        }
        socket.off('error', ignore);
        wss.handleUpgrade(req, socket, head, (ws) => {
          // Counted once ws completed the handshake: an admission is a WebSocket that exists.
          metrics.admissions.inc();
          const session = new AgentSession(
            ws,
            { workerId: decision.workerId, address: address ?? 'unknown', tokenHash: decision.tokenHash, viewSeq: decision.viewSeq },
            host,
            { clock, logger, metrics },
            options,
          );
          if (state !== 'running') {
            session.close(CloseCode.shuttingDown, 'shutting down', 'shutdown');
          }
          host.attach(session);
          logger.debug({ worker_id: decision.workerId, address }, 'upgrade accepted');
        });
      })
      .catch((error: unknown) => {
        logger.error({ error: error instanceof Error ? error.message : String(error) }, 'upgrade failed');
        socket.destroy();
      });
  };

  const server: Server = createMasterHttpServer({
    tls: options.tls,
    agentPath: DEFAULTS.agentPath,
    maxHeaderBytes: options.maxHeaderBytes,
    requestTimeoutMs: options.requestTimeoutMs,
    metricsRegistry,
    notReadyReason,
    onUpgrade,
    onStrayUpgrade: (req, socket) => {
      socket.on('error', () => undefined);
      refuse(req, socket, { ok: false, status: 404, reason: 'not found', metric: 'bad_path' }, addressOf(req.socket));
    },
    onRefused: (refusal) => refusals.http({ ...refusal, address: addressOf({ remoteAddress: refusal.address }) }),
  });

  /** ensureCollections, then the first view load; retried with backoff until it works or close() is called. */
  const initialise = async (): Promise<void> => {
    let attempt = 0;
    let connected = deps.connect === undefined;
    let collectionsReady = false;
    let sweptAtStart = false;
    while (state === 'running') {
      try {
        if (!connected) {
          await deps.connect?.();
          connected = true;
        }
        if (!collectionsReady) {
          await registry.ensureCollections();
          collectionsReady = true;
        }
        // Before the view loads, hence before any admission.
        if (!sweptAtStart) {
          await sweeper?.sweepAtStart();
          sweptAtStart = true;
        }
        if (await view.refresh()) {
          logger.info({ workers: view.size }, 'registry loaded');
          refreshTimer = setInterval(() => void view.check(), options.viewRefreshMs);
          return;
        }
      } catch (error) {
        if (state !== 'running') return; // close() closed the client under us
        health.failure(connected ? 'ensure_collections' : 'connect', error, retryDelayMs(attempt, options.retryBaseMs, options.retryCapMs));
      }
      if (state !== 'running') return;
      const delay = retryDelayMs(attempt, options.retryBaseMs, options.retryCapMs);
      attempt += 1;
      if (attempt === 1) logger.warn({ retry_in_ms: delay }, 'registry not loaded; admissions refused (503) until it is');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        initAbort = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      initAbort = undefined;
    }
  };

  const start = (): Promise<{ port: number }> => {
    started ??= (async () => {
      if (state !== 'new') throw new Error('master already closed');
      state = 'starting';
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const bound = server.address() as AddressInfo;
      // close() was called while we were binding: it takes over from here.
      if (state !== 'starting') return { port: bound.port };
      state = 'running';
      sweeper = new StaleSweeper({
        registry,
        clock,
        health,
        metrics,
        logger,
        heartbeatTimeoutMs: options.heartbeatTimeoutMs,
        intervalMs: options.sweepIntervalMs,
        startedAtMs: clock.monotonic(),
        startedAtWallMs: clock.now(),
      });
      writer.start();
      monitor.start();
      void initialise();
      logger.info(
        { host: bound.address, port: bound.port, tls: options.tls !== undefined, path: DEFAULTS.agentPath },
        'listening',
      );
      return { port: bound.port };
    })();
    return started;
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      const wasListening = state === 'running' || state === 'starting';
      state = 'closing';
      if (started !== undefined) await started.catch(() => undefined);
      if (refreshTimer !== undefined) clearInterval(refreshTimer);
      initAbort?.();
      view.close();
      monitor.stop();
      const released = stopListening(server);
      await closeSessions(host.open, CloseCode.shuttingDown, 'shutting down', 'shutdown');
      server.closeAllConnections();
      await writer.stop();
      await released;
      wss.close();
      refusals.close();
      if (deps.closeDatabase !== undefined) {
        try {
          await deps.closeDatabase();
        } catch (error) {
          logger.warn({ error: error instanceof Error ? error.message : String(error) }, 'closing the database client failed');
        }
      }
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
