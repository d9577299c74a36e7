import { readFile } from 'node:fs/promises';
import { MongoClient } from 'mongodb';
import type { Logger } from 'pino';
import type { CommandModule } from 'yargs';
import type { Env } from '../db/settings.js';
import { createMaster, type Master } from '../server/master.js';
import type { EarlyListener } from '../server/early-listener.js';
import { InvalidDatabaseSettingsError, listenError } from '../errors.js';
import { ConfigError, integerHelp, parseServeConfig, type ServeConfig, type ServeFlags } from './serve-config.js';
import { createMasterLogger } from '../logger.js';
import { plannedRestartRequested, RESTART_MARKER_ENV, RESTART_MARKER_PATH } from './planned-restart.js';

/** Delivers the first shutdown request (SIGTERM, SIGINT) once. */
export interface ShutdownSignals {
  /** Calls `handler` on the first request; returns a function that stops listening. */
  onShutdown(handler: (signal: string) => void): () => void;
}

export interface ServeIo {
  env: Env;
  /** Where the JSON log lines go (stdout for journald). */
  stdout: (text: string) => void;
  /** True when stdout is a terminal: the log is written there readable (@cluster/logging's pretty.ts) instead of as JSON. */
  stdoutIsTTY?: boolean | undefined;
  /**
   * The shutdown requests. main.ts should pass them; without them the command
   * listens to the process's SIGTERM and SIGINT itself (the second one exits at once).
   */
  signals?: ShutdownSignals;
  /**
   * The listening socket bound before the master was loaded (main.ts binds it
   * first thing; server/early-listener.ts): the master takes it over when it is
   * bound to the configured address. Absent: the master binds once loaded.
   */
  earlyListener?: EarlyListener | undefined;
  /** For tests: called once the master listens. */
  onListening?: (master: Master, port: number) => void;
  /** Database server selection timeout per operation; default 5 s. */
  serverSelectionTimeoutMS?: number;
  /** Wall clock, for the planned-restart marker's deadline; default Date.now. */
  now?: () => number;
}

interface ServeArgs extends ServeFlags {
  host?: string;
  port?: string;
  heartbeatIntervalMs?: string;
  heartbeatTimeoutMs?: string;
  flushIntervalMs?: string;
  helloTimeoutMs?: string;
  viewRefreshMs?: string;
  eventTtlDays?: string;
  tlsCert?: string;
  tlsKey?: string;
  checkSourceAddress?: boolean;
  logLevel?: string;
}

/**
 * SIGTERM/SIGINT from the process. Kept here, behind ShutdownSignals, only as
 * the fallback for a main.ts that passes none: the first signal starts the
 * graceful shutdown, a second one exits at once.
 */
export function processShutdownSignals(): ShutdownSignals {
  return {
    onShutdown(handler) {
      let received = false;
      const listener = (signal: NodeJS.Signals): void => {
        if (received) {
          process.exit(signal === 'SIGINT' ? 130 : 143);
        }
        received = true;
        handler(signal);
      };
      process.on('SIGTERM', listener);
      process.on('SIGINT', listener);
      return () => {
        process.off('SIGTERM', listener);
        process.off('SIGINT', listener);
      };
    },
  };
}

async function readTls(config: ServeConfig): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if (config.tls === undefined) return undefined;
  try {
    const [cert, key] = await Promise.all([readFile(config.tls.certPath), readFile(config.tls.keyPath)]);
    return { cert, key };
  } catch (error) {
    throw new ConfigError(`cannot read the TLS certificate or key: ${(error as Error).message}`);
  }
}

function openClient(config: ServeConfig, serverSelectionTimeoutMS: number): MongoClient {
  try {
    // Not connected here: the driver connects on the first operation, and the
    // master retries that with backoff, so serve starts (503 on /readyz) while
    // the database is down instead of failing.
    return new MongoClient(config.mongo.uri, { appName: 'cluster-master serve', serverSelectionTimeoutMS });
  } catch {
    // The driver's message may quote the URI (and its password).
    throw new InvalidDatabaseSettingsError('invalid MongoDB connection string in MONGODB_URI');
  }
}

/** Runs the master until a shutdown signal; resolves once it has closed. */
export async function runServe(args: ServeFlags, io: ServeIo): Promise<void> {
  const config = parseServeConfig(args, io.env);
  const tls = await readTls(config);
  const logger: Logger = createMasterLogger({
    level: config.logLevel,
    pretty: io.stdoutIsTTY === true,
    colors: io.env.NO_COLOR === undefined,
    destination: { write: (line: string) => io.stdout(line) },
  });
  const client = openClient(config, io.serverSelectionTimeoutMS ?? 5_000);
  const master = createMaster({
    db: client.db(config.mongo.database),
    connect: () => client.connect(),
    logger,
    closeDatabase: () => client.close(),
    earlyListener: io.earlyListener,
    options: {
      host: config.host,
      port: config.port,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      heartbeatTimeoutMs: config.heartbeatTimeoutMs,
      flushIntervalMs: config.flushIntervalMs,
      helloTimeoutMs: config.helloTimeoutMs,
      viewRefreshMs: config.viewRefreshMs,
      eventTtlDays: config.eventTtlDays,
      checkSourceAddress: config.checkSourceAddress,
      tls,
    },
  });
  const signals = io.signals ?? processShutdownSignals();
  let stopListening: (() => void) | undefined;
  let plannedRestart = false;
  const requested = new Promise<string>((resolve) => {
    stopListening = signals.onShutdown(resolve);
  });
  logger.info(
    {
      database: `${config.mongo.description}${config.mongo.database}`,
      heartbeat_interval_ms: config.heartbeatIntervalMs,
      heartbeat_timeout_ms: config.heartbeatTimeoutMs,
      check_source_address: config.checkSourceAddress,
    },
    'starting',
  );
  try {
    const { port } = await master.start().catch((error: unknown) => {
      // Listen failures an operator causes by hand (a second master, a low port, an address not here): say which address and what to do.
      const failure = listenError(error, config.host, config.port);
      // The log says why the master stopped, not only `starting`: the journal may be all an operator reads.
      logger.error(
        { code: (failure as { code?: unknown }).code, error: failure instanceof Error ? failure.message : String(failure) },
        'stopped: could not listen',
      );
      throw failure;
    });
    io.onListening?.(master, port);
    const signal = await requested;
    // A stop or a planned restart (package upgrade, `cluster-master restart`): the marker says which.
    plannedRestart = await plannedRestartRequested(io.env[RESTART_MARKER_ENV] || RESTART_MARKER_PATH, (io.now ?? Date.now)());
    logger.info({ signal, planned_restart: plannedRestart }, 'shutting down');
  } finally {
    await master.close({ plannedRestart });
    // A second signal during close() must still exit at once; stop listening only after.
    stopListening?.();
  }
}

export function serveCommand(io: ServeIo): CommandModule<object, ServeArgs> {
  return {
    command: 'serve',
    describe: "Run the agents' endpoint: admit agents and keep WORKER_REGISTRY true",
    builder: (yargs) =>
      yargs
        .option('host', { type: 'string', describe: 'Listen address [MASTER_HOST, default 0.0.0.0]' })
        .option('port', { type: 'string', describe: integerHelp('port') })
        .option('heartbeat-interval-ms', { type: 'string', describe: integerHelp('heartbeatIntervalMs') })
        .option('heartbeat-timeout-ms', { type: 'string', describe: integerHelp('heartbeatTimeoutMs') })
        .option('flush-interval-ms', { type: 'string', describe: integerHelp('flushIntervalMs') })
        .option('hello-timeout-ms', { type: 'string', describe: integerHelp('helloTimeoutMs') })
        .option('view-refresh-ms', { type: 'string', describe: integerHelp('viewRefreshMs') })
        .option('event-ttl-days', { type: 'string', describe: integerHelp('eventTtlDays') })
        .option('tls-cert', { type: 'string', describe: 'PEM certificate: serve wss:// [MASTER_TLS_CERT]' })
        .option('tls-key', { type: 'string', describe: 'PEM private key [MASTER_TLS_KEY]' })
        .option('check-source-address', {
          type: 'boolean',
          describe: "Refuse agents connecting from an address other than worker_ip (--no-check-source-address to turn off) [MASTER_CHECK_SOURCE_ADDRESS, default true]",
        })
        .option('log-level', { type: 'string', describe: 'Log level: fatal, error, warn, info, debug, trace or silent [LOG_LEVEL, default info]' }),
    handler: (args) => runServe(args, io),
  };
}
