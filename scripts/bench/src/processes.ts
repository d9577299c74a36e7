import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { promisify } from 'node:util';
import { sleep } from './util.js';

const run = promisify(execFile);

export const ROOT = new URL('../../../', import.meta.url).pathname;
const MASTER_MAIN = `${ROOT}packages/master/dist/main.js`;
const AGENT_MAIN = `${ROOT}packages/agent/dist/main.js`;

/** The dev database (scripts/devdb.sh) in its own state directory. */
export async function startDevDb(stateDir: string): Promise<string> {
  const { stdout } = await run('bash', [`${ROOT}scripts/devdb.sh`, 'start', '--state-dir', stateDir], { cwd: ROOT, timeout: 300_000 });
  return stdout.trim();
}

export async function stopDevDb(stateDir: string): Promise<void> {
  await run('bash', [`${ROOT}scripts/devdb.sh`, 'stop', '--state-dir', stateDir], { cwd: ROOT, timeout: 30_000 });
}

export function devDbPid(stateDir: string): number | undefined {
  try {
    return Number(readFileSync(`${stateDir}/pid`, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

/** Reads a growing log file of JSON lines from where it was last read. */
export class LogTail {
  #offset = 0;
  #partial = '';

  constructor(readonly path: string) {}

  /** The complete lines written since the last call. */
  lines(): string[] {
    let text: string;
    try {
      const fd = openSync(this.path, 'r');
      try {
        const size = fstatSync(fd).size;
        const buffer = Buffer.alloc(Math.max(0, size - this.#offset));
        readSync(fd, buffer, 0, buffer.length, this.#offset);
        this.#offset = size;
        text = buffer.toString('utf8');
      } finally {
        closeSync(fd);
      }
    } catch {
      return [];
    }
    const parts = (this.#partial + text).split('\n');
    this.#partial = parts.pop() ?? '';
    return parts;
  }

  async waitFor<T>(what: string, match: (line: string) => T | undefined, timeoutMs: number, alive: () => boolean): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.lines()) {
        const found = match(line);
        if (found !== undefined) return found;
      }
      if (!alive()) throw new Error(`process exited while waiting for ${what}; see ${this.path}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; see ${this.path}`);
      await sleep(50);
    }
  }
}

export function jsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A daemon started from its built main.js, stdout and stderr appended to a log file. */
export class Daemon {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly tail: LogTail;

  constructor(
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    this.tail = new LogTail(logFile);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.alive()) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    if (this.alive()) this.child.kill('SIGKILL');
    await this.exited;
  }
}

function spawnLogged(args: string[], env: NodeJS.ProcessEnv, logFile: string): Daemon {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return new Daemon(child, logFile);
}

export interface MasterDaemon extends Daemon {
  port: number;
  /** ws:// URL of the inspector when started with one. */
  inspectorUrl: string | undefined;
}

/**
 * `cluster-master serve` as operators run it (default interval, timeout,
 * log level info, JSON lines to a file), on 127.0.0.1.
 */
export async function startMaster(options: {
  mongoUri: string;
  database: string;
  port: number;
  logFile: string;
  inspect: boolean;
  extraArgs?: string[];
  /** Another build's main.js (a before/after comparison); default this tree's. */
  mainJs?: string;
}): Promise<MasterDaemon> {
  const nodeArgs = options.inspect ? ['--inspect=127.0.0.1:0'] : [];
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    MONGODB_URI: options.mongoUri,
    MONGODB_DATABASE: options.database,
  };
  const daemon = spawnLogged(
    [...nodeArgs, options.mainJs ?? MASTER_MAIN, 'serve', '--host', '127.0.0.1', '--port', String(options.port), ...(options.extraArgs ?? [])],
    env,
    options.logFile,
  );
  let inspectorUrl: string | undefined;
  const port = await daemon.tail.waitFor(
    'the master to listen',
    (line) => {
      const inspector = /Debugger listening on (ws:\/\/\S+)/.exec(line);
      if (inspector?.[1] !== undefined) inspectorUrl = inspector[1];
      const json = jsonLine(line);
      return json?.msg === 'listening' ? Number(json.port) : undefined;
    },
    30_000,
    () => daemon.alive(),
  );
  return Object.assign(daemon, { port, inspectorUrl });
}

/**
 * The V8 flags the installed agent runs with: the release's executable
 * carries them (`--v8-flags=` in scripts/release/release.sh).
 */
export function installedAgentNodeFlags(): string[] {
  try {
    // The unit runs /usr/bin/cluster-agent, which takes no node flags: run dist/main.js with the release's.
    const release = readFileSync(`${ROOT}scripts/release/release.sh`, 'utf8');
    const match = /'--v8-flags=([^']*)'/.exec(release);
    return match?.[1] === undefined ? [] : match[1].split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** A real `cluster-agent run` (real probe), log level info, JSON lines to a file. */
export function startRealAgent(options: { masterUrl: string; workerId: string; token: string; logFile: string; nodeFlags: string[]; env?: NodeJS.ProcessEnv }): Daemon {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AGENT_TOKEN: options.token,
    LOG_LEVEL: 'info',
    ...options.env,
  };
  return spawnLogged([...options.nodeFlags, AGENT_MAIN, 'run', '--master-url', options.masterUrl, '--worker-id', options.workerId], env, options.logFile);
}
