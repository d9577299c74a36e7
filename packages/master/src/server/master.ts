import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloseCode, DEFAULTS } from '@cluster/protocol';
import type { Logger } from 'pino';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { MasterMetrics } from '../metrics/metrics.js';
import { every } from './clock.js';
import type { CreateMasterOptions } from './create-master-options.js';
import type { ServerOptions } from './options.js';
import { LISTEN_BACKLOG, type EarlyListener } from './early-listener.js';
import { closeSessions, stopListening } from './session/shutdown.js';
import { wireEndpoint, wireParts } from './wiring.js';

export interface Master {
  /** Listens, then loads the registry in the background (retrying); resolves with the bound port. */
  start(): Promise<{ port: number }>;
  /**
   * Graceful shutdown; idempotent (every call returns the same promise, the
   * first call's options decide). `plannedRestart`: this master comes back
   * at once (a package upgrade, `cluster-master restart`), so the workers it
   * served are left active for the next one instead of flagged after the
   * hand-over grace; see docs/DESIGN.md, "Planned restarts".
   */
  close(options?: CloseOptions): Promise<void>;
  /** The bound address, once listening. */
  address(): AddressInfo | undefined;
  readonly metrics: MasterMetrics;
  readonly metricsRegistry: MetricsRegistry;
  /** Why /readyz says 503, or null when it says 200. */
  notReadyReason(): string | null;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface CloseOptions {
  plannedRestart?: boolean;
}

type State = 'new' | 'starting' | 'running' | 'closing' | 'closed';

/**
 * The agents' endpoint: the parts wired (wiring.ts), then started and closed
 * in order. Touches no process state: main.ts and the serve command own
 * signals and exit codes.
 */
export function createMaster(deps: CreateMasterOptions): Master {
  let state: State = 'new';
  let stopViewChecks: (() => void) | undefined;
  let started: Promise<{ port: number }> | undefined;
  let closing: Promise<void> | undefined;
  const parts = wireParts(deps);
  const { options, clock, logger, view, health, sweeper, writer, host, monitor, refusals, startup } = parts;
  const notReadyReason = (): string | null => {
    if (state !== 'running') return state === 'closing' || state === 'closed' ? 'shutting down' : 'starting';
    if (!view.loaded) return 'registry not loaded yet';
    if (!health.ok) return 'database unreachable';
    return null;
  };
  const { server, wss, upgrades } = wireEndpoint(parts, deps, () => state === 'running', notReadyReason);
  /** The socket bound before the master was loaded (serve), once this master took it over. */
  let adopted: EarlyListener | undefined;

  const start = (): Promise<{ port: number }> => {
    started ??= (async () => {
      if (state !== 'new') throw new Error('master already closed');
      state = 'starting';
      const early = deps.earlyListener;
      let bound: AddressInfo;
      /** Connections that waited on the early socket while the master loaded: logged with 'listening'. */
      let queued: number | undefined;
      if (early?.serves(options) === true) {
        queued = early.queued;
        bound = adopt(server, early);
        adopted = early;
      } else {
        // Bound for another address than the one configured (not expected): let it go, listen as asked.
        await early?.close();
        bound = await listen(server, options);
      }
      // close() was called while we were binding: it takes over from here.
      if (state !== 'starting') return { port: bound.port };
      state = 'running';
      sweeper.startNow();
      writer.start();
      parts.history?.start();
      monitor.start();
      void startup.run().then((loaded) => {
        if (!loaded) return;
        // The agents can be admitted from now: the first sweep gives them one heartbeat timeout from here, not from the start.
        sweeper.admittingSince(clock.monotonic());
        stopViewChecks = every(clock, options.viewRefreshMs, () => void view.check());
      });
      logger.info(
        {
          host: bound.address,
          port: bound.port,
          tls: options.tls !== undefined,
          path: DEFAULTS.agentPath,
          instance_id: parts.identity.instanceId,
          ...(queued === undefined ? {} : { bound_early: true, queued_connections: queued }),
        },
        'listening',
      );
      return { port: bound.port };
    })();
    return started;
  };

  const close = (closeOptions: CloseOptions = {}): Promise<void> => {
    closing ??= (async () => {
      const restarting = closeOptions.plannedRestart === true;
      const wasListening = state === 'running' || state === 'starting';
      state = 'closing';
      // Held upgrades are sockets the server no longer tracks (closeAllConnections does not reach them).
      upgrades.releaseHeld();
      startup.stop();
      if (started !== undefined) await started.catch(() => undefined);
      stopViewChecks?.();
      view.close();
      monitor.stop();
      // An early socket not taken over (closed before start): released too, or it would hold the process.
      const released = adopted === undefined ? Promise.all([stopListening(server), deps.earlyListener?.close()]) : stopAdopted(server, adopted);
      const served = [...host.sessions.values()].map((s) => s.workerId);
      await closeSessions(host.open, CloseCode.shuttingDown, restarting ? 'restarting' : 'shutting down', 'shutdown');
      server.closeAllConnections();
      if (restarting) leaveForNextMaster(served);
      else await handOver(served);
      await writer.stop();
      const { specs, hardware } = writer.pending;
      // Every spec and inventory write landed: the next master may take the view as this one holds it.
      if (specs + hardware === 0) await view.storeAtClose();
      await sweeper.withdraw();
      // After the hand-over's flags and the final flush: their events go in this last write.
      await parts.history?.stop();
      await released;
      wss.close();
      refusals.close();
      await closeDatabase(deps.closeDatabase, logger);
      state = 'closed';
      if (wasListening) logger.info('closed');
    })();
    return closing;
  };

  /**
   * The agents closed with 4503 move to another master, if there is one. After
   * the grace the workers this master served are flagged, conditionally as
   * every flag: one that another master has written a newer heartbeat for
   * stays active; one that found no other master is not left active forever
   * (no master would sweep it). The flag is written at once, in a statement
   * of its own, so that its log line and metric count the workers it changed,
   * not the ones that moved.
   */
  const handOver = async (workerIds: string[]): Promise<void> => {
    if (workerIds.length === 0) return;
    logger.info({ count: workerIds.length, grace_ms: options.handoverGraceMs }, 'handing workers over to other masters');
    await new Promise<void>((resolve) => clock.setTimeout(resolve, options.handoverGraceMs));
    await host.flagHandedOver(workerIds);
  };

  /**
   * A planned restart: no grace, no flag. The agents reconnect to the next
   * master (or another one); whichever master sweeps next flags a worker
   * whose agent does not come back within the heartbeat timeout, as after a
   * crash. Its last heartbeats are still flushed (writer.stop()), so that
   * timeout counts from now.
   */
  const leaveForNextMaster = (workerIds: string[]): void => {
    if (workerIds.length === 0) return;
    logger.info(
      { count: workerIds.length, heartbeat_timeout_ms: options.heartbeatTimeoutMs, worker_ids: workerIds.slice(0, 100) },
      'planned restart: workers left active for the next master',
    );
  };

  return {
    start,
    close,
    address: () => {
      if (adopted !== undefined) return adopted.address();
      const a = server.address();
      return a !== null && typeof a === 'object' ? a : undefined;
    },
    metrics: parts.metrics,
    metricsRegistry: parts.metricsRegistry,
    notReadyReason,
    [Symbol.asyncDispose]: () => close(),
  };
}

function listen(server: Server, options: Pick<ServerOptions, 'port' | 'host'>): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port, host: options.host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Takes over the socket serve bound before loading the master: the server
 * reads its connections as if it had accepted them, the queued ones first.
 * 'listening' is what starts an http server's tracking of its connections
 * (closeAllConnections, the request timeouts) when it listens itself.
 */
function adopt(server: Server, early: EarlyListener): AddressInfo {
  server.emit('listening');
  early.handTo(server);
  return early.address() as AddressInfo;
}

/** stopListening for an adopted socket: stop accepting there; the server closes its idle connections and stops its checks. */
async function stopAdopted(server: Server, early: EarlyListener): Promise<void> {
  // The server never listened itself: close() only ends its connection checks (and reports 'not running', ignored).
  server.close(() => undefined);
  server.closeIdleConnections();
  await early.close();
}

async function closeDatabase(close: (() => Promise<void>) | undefined, logger: Logger): Promise<void> {
  if (close === undefined) return;
  try {
    await close();
  } catch (error) {
    logger.warn({ error: error instanceof Error ? error.message : String(error) }, 'closing the database client failed');
  }
}
