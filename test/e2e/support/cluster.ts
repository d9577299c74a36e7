import { randomBytes } from 'node:crypto';
import { cleanEnv, MAIN as MASTER_MAIN } from '../../cli/run-cli.js';
import { runToEnd, spawnProc, type Proc, type ProcSet } from './processes.js';

export const AGENT_MAIN = 'packages/agent/dist/main.js';

/** Lifecycle timings of every scenario: short, so that a fault is detected within seconds. */
export const TIMING = {
  heartbeatIntervalMs: 200,
  heartbeatTimeoutMs: 1_500,
  flushIntervalMs: 200,
  reconnectBaseMs: 100,
  reconnectCapMs: 1_000,
  refusedRetryMs: 2_000,
} as const;

export interface Specs {
  total_cpu: number;
  total_memory: number;
  total_storage: number;
  total_gpu: number;
}

export const FAKE_SPECS: Specs = { total_cpu: 12, total_memory: 31.25, total_storage: 512, total_gpu: 2 };

/** A fresh database name per scenario, so each starts from an empty registry. */
export function scenarioDatabase(tag: string): string {
  return `e2e_${tag}_${randomBytes(3).toString('hex')}`;
}

/** Where the CLI and the master find the database (nothing else of the caller's MONGODB_* leaks in). */
export interface DbTarget {
  uri: string;
  database: string;
}

/** The caller's environment without any setting of either daemon, plus `extra`. */
function daemonEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = cleanEnv({});
  for (const name of Object.keys(env)) {
    if (name.startsWith('MASTER_') || name.startsWith('AGENT_') || name === 'LOG_LEVEL') delete env[name];
  }
  return { ...env, ...extra };
}

function dbEnv(target: DbTarget): NodeJS.ProcessEnv {
  return daemonEnv({ MONGODB_URI: target.uri, MONGODB_DATABASE: target.database });
}

/** `cluster-master …` (the admin CLI), run to completion. */
export async function masterCli(target: DbTarget, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runToEnd(process.execPath, [MASTER_MAIN, ...args], dbEnv(target));
}

/** `worker register <id> <ip> --json`; returns the token. */
export async function registerWorker(target: DbTarget, workerId: string, workerIp = '127.0.0.1'): Promise<string> {
  const result = await masterCli(target, ['worker', 'register', workerId, workerIp, '--json']);
  if (result.code !== 0) throw new Error(`worker register ${workerId} failed (${result.code}): ${result.stderr}`);
  const parsed = JSON.parse(result.stdout) as { token?: unknown };
  if (typeof parsed.token !== 'string') throw new Error(`worker register printed no token: ${result.stdout}`);
  return parsed.token;
}

/** Registers many workers with the CLI, a few processes at a time (2 cores). */
export async function registerWorkers(target: DbTarget, workerIds: readonly string[], concurrency = 4): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  const queue = [...workerIds];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) tokens.set(id, await registerWorker(target, id));
    }),
  );
  return tokens;
}

export interface MasterOptions {
  host?: string;
  port?: number;
  logLevel?: string;
  extraArgs?: readonly string[];
  /** Another build's checkout (an earlier release, scripts/old-release.sh): its master runs instead. */
  root?: string;
}

export interface MasterProc {
  proc: Proc;
  port: number;
  host: string;
  /** performance.now() when its 'listening' line arrived. */
  listeningAtMs: number;
  /** performance.now() when its 'registry loaded' line arrived. */
  readyAtMs: number;
}

/**
 * `cluster-master serve` with the short timings, on port 0 unless given;
 * resolves once it listens and has loaded the registry (admissions open).
 */
export async function startMaster(procs: ProcSet, target: DbTarget, name: string, options: MasterOptions = {}): Promise<MasterProc> {
  const host = options.host ?? '127.0.0.1';
  const args = [
    options.root === undefined ? MASTER_MAIN : `${options.root}/${MASTER_MAIN}`,
    'serve',
    '--host',
    host,
    '--port',
    String(options.port ?? 0),
    '--heartbeat-interval-ms',
    String(TIMING.heartbeatIntervalMs),
    '--heartbeat-timeout-ms',
    String(TIMING.heartbeatTimeoutMs),
    '--flush-interval-ms',
    String(TIMING.flushIntervalMs),
    '--log-level',
    options.logLevel ?? 'info',
    ...(options.extraArgs ?? []),
  ];
  const proc = procs.add(spawnProc(name, process.execPath, args, dbEnv(target)));
  const listening = await proc.waitForRecord('listening', (r) => r.msg === 'listening', { timeoutMs: 15_000 });
  const port = Number(listening.rec.port);
  const ready = await proc.waitForRecord('registry loaded', (r) => r.msg === 'registry loaded', { timeoutMs: 15_000 });
  return { proc, port, host, listeningAtMs: listening.atMs, readyAtMs: ready.atMs };
}

export interface AgentOptions {
  masterUrl: string;
  workerId: string;
  token: string;
  /** Reported instead of measuring; undefined runs the real probe. */
  specs?: Specs | undefined;
  reconnectBaseMs?: number;
  reconnectCapMs?: number;
  refusedRetryMs?: number;
  welcomeTimeoutMs?: number;
  logLevel?: string;
  /** Run inside this network namespace (`ip netns exec`). */
  netns?: string;
  /** Another build's checkout (an earlier release, scripts/old-release.sh): its agent runs instead. */
  root?: string;
}

/**
 * `cluster-agent run`, the token in AGENT_TOKEN (never on argv: flags show
 * in ps). Resolves at once; wait on its log lines.
 */
export function startAgent(procs: ProcSet, name: string, options: AgentOptions): Proc {
  const args = [
    options.root === undefined ? AGENT_MAIN : `${options.root}/${AGENT_MAIN}`,
    'run',
    '--master-url',
    options.masterUrl,
    '--worker-id',
    options.workerId,
    '--reconnect-base-ms',
    String(options.reconnectBaseMs ?? TIMING.reconnectBaseMs),
    '--reconnect-cap-ms',
    String(options.reconnectCapMs ?? TIMING.reconnectCapMs),
    '--refused-retry-ms',
    String(options.refusedRetryMs ?? TIMING.refusedRetryMs),
    '--welcome-timeout-ms',
    String(options.welcomeTimeoutMs ?? 3_000),
    '--log-level',
    options.logLevel ?? 'info',
    ...(options.specs === undefined ? [] : ['--fake-specs', JSON.stringify(options.specs)]),
  ];
  const env = daemonEnv({ AGENT_TOKEN: options.token });
  const proc =
    options.netns === undefined
      ? spawnProc(name, process.execPath, args, env)
      : spawnProc(name, 'ip', ['netns', 'exec', options.netns, process.execPath, ...args], env);
  return procs.add(proc);
}

export function agentUrl(master: MasterProc, host = master.host): string {
  return `ws://${host}:${master.port}/agent`;
}

/** The agent's 'admitted' records (its log's event field). */
export function agentEvents(agent: Proc, event: string, from = 0): { atMs: number; rec: Record<string, unknown> }[] {
  return agent.records(from).filter((r) => r.rec.event === event);
}

/** The master's log records with this msg (and worker, when given). */
export function masterRecords(master: Proc, msg: string, workerId?: string, from = 0): { atMs: number; rec: Record<string, unknown> }[] {
  return master.records(from).filter((r) => r.rec.msg === msg && (workerId === undefined || r.rec.worker_id === workerId));
}
