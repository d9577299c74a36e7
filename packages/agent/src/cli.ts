import { createReadStream } from 'node:fs';
import { prettyPrint } from '@cluster/logging';
import { PROTOCOL_VERSION } from '@cluster/protocol/agent-side';
import type { DestinationStream, Logger } from 'pino';
import { createAgent, type Agent, type AgentOptions } from './agent.js';
import { parseInvocation, type Env, type RunConfig } from './config.js';
import { errorLine } from './errors.js';
import { createLogger, type LoggerSettings } from './logger.js';
import { createFakeProbe } from './probe/fake.js';
import { formatProbeReport } from './probe/format.js';
import { createProbe, type Probe } from './probe/index.js';
import { safeUrl } from './session/session.js';
import { processHeap, startHeapTrim, type HeapAccess } from './heap-trim.js';
import { realTimers, type Timers } from './timers.js';
import { plainTextTokenUrls } from './plain-text-token.js';
import { fixedToken, tokenFile } from './token.js';
import { CredentialStoreError, createEnroller } from './enrollment/enroll.js';

export type Signal = 'SIGTERM' | 'SIGINT';

/** Exit codes: 0 done, 1 unexpected failure, 2 bad configuration, 128+n a second signal. */
export const EXIT = { ok: 0, failure: 1, badConfig: 2, SIGINT: 130, SIGTERM: 143 } as const;

/** A clean shutdown gives up waiting for the master after this and exits anyway. */
export const SHUTDOWN_DEADLINE_MS = 1_800;

/** What the command line needs from the process; main.ts passes the real ones. */
export interface CliDeps {
  argv: readonly string[];
  env: Env;
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  /** Standard input, for `pretty`. */
  stdin?: AsyncIterable<string | Buffer>;
  hostname: () => string;
  readFile: (path: string) => Promise<Buffer>;
  onSignal: (signal: Signal, handler: () => void) => void;
  exit: (code: number) => void;
  version: string;
  // Seams for tests.
  createAgent?: (options: AgentOptions) => Agent;
  createProbe?: () => Probe;
  logDestination?: DestinationStream;
  timers?: Timers;
  agentOverrides?: Partial<AgentOptions>;
  /** The heap the daemon keeps trimmed (heap-trim.ts); default: this process's; null: no trim. */
  heap?: HeapAccess | null;
}

export async function runCli(deps: CliDeps): Promise<void> {
  const invocation = await parseInvocation(deps.argv, deps.env, deps);
  switch (invocation.command) {
    case 'print':
      deps.stdout.write(`${invocation.output}\n`);
      deps.exit(EXIT.ok);
      return;
    case 'invalid':
      deps.stderr.write(`${errorLine(invocation.code, invocation.message)}\n`);
      deps.exit(EXIT.badConfig);
      return;
    case 'probe': {
      const report = await (deps.createProbe ?? (() => createProbe()))()();
      deps.stdout.write(invocation.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatProbeReport(report)}\n`);
      // A hung nvidia-smi child would otherwise keep the process alive.
      deps.exit(EXIT.ok);
      return;
    }
    case 'pretty':
      deps.exit(await printPretty(invocation.files, deps));
      return;
    case 'run':
      await run(invocation.config, deps);
      return;
  }
}

/** `cluster-agent pretty`: a JSON log (the journal, a saved file) readable, with the executable itself. */
async function printPretty(files: readonly string[], deps: CliDeps): Promise<number> {
  const options = { colors: deps.stdout.isTTY === true && deps.env.NO_COLOR === undefined, dates: true };
  for (const file of files.length === 0 ? ['-'] : files) {
    const input = file === '-' ? deps.stdin : createReadStream(file);
    if (input === undefined) continue;
    try {
      await prettyPrint(input, deps.stdout, options);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
      deps.stderr.write(`${errorLine('USAGE', `cannot read ${file} (${why}): name a file of JSON log lines, or pipe them in`)}\n`);
      return EXIT.badConfig;
    }
  }
  return EXIT.ok;
}

async function run(config: RunConfig, deps: CliDeps): Promise<void> {
  const timers = deps.timers ?? realTimers;
  const settings: LoggerSettings = { level: config.logLevel, pretty: deps.stdout.isTTY === true, colors: deps.env.NO_COLOR === undefined };
  if (deps.logDestination) settings.destination = deps.logDestination;
  const logger: Logger = createLogger(settings);
  logger.info(
    {
      event: 'starting',
      worker_id: config.workerId,
      master_url: config.masterUrls.map(safeUrl).join(','),
      agent_version: deps.version,
      protocol_version: PROTOCOL_VERSION,
      tls_ca: config.ca !== undefined,
    },
    `cluster-agent ${deps.version} starting`,
  );
  const plain = plainTextTokenUrls(config.masterUrls);
  if (plain.length > 0) {
    logger.warn(
      { event: 'plain-text-token', master_url: plain.map(safeUrl).join(',') },
      'this agent sends its token over ws:// (plain text) to a host that is not this machine: anyone on the way can read it and connect as this worker; serve the master with TLS (--tls-cert, --tls-key) and use wss://',
    );
  }
  const probe = config.fakeSpecs ? createFakeProbe(config.fakeSpecs) : (deps.createProbe ?? (() => createProbe()))();
  const enroll =
    config.enrollment === undefined
      ? undefined
      : createEnroller({
          urls: config.masterUrls,
          workerId: config.workerId,
          token: config.enrollment.token,
          tokenFrom: config.enrollment.from,
          credentialFile: config.credentialFile,
          ca: config.ca,
          logger: logger.child({ worker_id: config.workerId }),
          timers,
          refusedRetryMs: config.refusedRetryMs,
          reconnectBaseMs: config.reconnectBaseMs,
          reconnectCapMs: config.reconnectCapMs,
          welcomeTimeoutMs: config.welcomeTimeoutMs,
        });
  const agent = (deps.createAgent ?? createAgent)({
    enroll,
    masterUrl: config.masterUrls,
    workerId: config.workerId,
    // A token file is read again before every attempt, so a fixed file works without a restart.
    token: config.tokenFile === undefined ? fixedToken(config.token, config.tokenFrom) : tokenFile(config.tokenFile, deps.readFile),
    ca: config.ca,
    agentVersion: deps.version,
    probe,
    logger,
    reconnectBaseMs: config.reconnectBaseMs,
    reconnectCapMs: config.reconnectCapMs,
    refusedRetryMs: config.refusedRetryMs,
    stableConnectionMs: config.stableConnectionMs,
    reprobeIntervalMs: config.reprobeIntervalMs,
    welcomeTimeoutMs: config.welcomeTimeoutMs,
    ...deps.agentOverrides,
  });

  // Installed before the first probe, which may take seconds on a GPU host.
  let stopping = false;
  const onSignal = (signal: Signal) => {
    if (stopping) {
      logger.warn({ event: 'exit-now', signal }, `second ${signal}: exiting at once`);
      deps.exit(EXIT[signal]);
      return;
    }
    stopping = true;
    trim?.stop();
    logger.info({ event: 'stopping', signal }, `${signal}: closing the session`);
    const deadline = timers.setTimeout(() => {
      logger.warn({ event: 'stop-deadline' }, `the session did not close within ${SHUTDOWN_DEADLINE_MS} ms; exiting anyway`);
      deps.exit(EXIT.ok);
    }, SHUTDOWN_DEADLINE_MS);
    agent.close().then(
      () => {
        timers.clearTimeout(deadline);
        logger.info({ event: 'stopped' }, 'stopped');
        deps.exit(EXIT.ok);
      },
      (err: unknown) => {
        timers.clearTimeout(deadline);
        logger.error({ event: 'stop-failed', error: String(err) }, 'closing the session failed');
        deps.exit(EXIT.failure);
      },
    );
  };
  // Caps the garbage reconnects leave in the old generation (heap-trim.ts: why).
  const heap = deps.heap === undefined ? processHeap() : (deps.heap ?? undefined);
  const trim = heap === undefined ? undefined : startHeapTrim(heap, timers);
  deps.onSignal('SIGTERM', () => onSignal('SIGTERM'));
  deps.onSignal('SIGINT', () => onSignal('SIGINT'));

  if (config.fakeSpecs) logger.warn({ event: 'fake-specs', specs: config.fakeSpecs }, 'reporting fake specs (AGENT_FAKE_SPECS); this machine is not measured');
  try {
    await agent.start();
  } catch (err) {
    if (!(err instanceof CredentialStoreError)) throw err;
    // Only an admin can help (the message says how); systemd restarts the agent meanwhile.
    logger.error({ event: 'credential-store-failed' }, err.message);
    deps.exit(EXIT.failure);
  }
}
