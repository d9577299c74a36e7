import { spawn, type ChildProcess } from 'node:child_process';
import { waitFor, type LogLine } from '../../integration/helpers/harness.js';
import { MAIN, ROOT, cleanEnv } from '../../cli/run-cli.js';
import { collector } from './collector.js';
import { processMemory } from './memory.js';

/**
 * The built master as operators run it: `node packages/master/dist/main.js
 * serve --port 0 …` in its own process, JSON log lines on stdout. Used where
 * the process itself is the point: it must never crash or restart (same pid
 * from start to end), its peak RSS is its own, and its flags work.
 */
export interface Daemon {
  label: string;
  child: ChildProcess;
  pid: number;
  port: number;
  lines: LogLine[];
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  waitLog(match: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  /** Peak RSS so far (VmHWM), bytes. */
  peakRssBytes(): number;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export const daemons: Daemon[] = [];

export async function spawnMaster(label: string, args: readonly string[], env: Record<string, string>): Promise<Daemon> {
  const child = spawn(process.execPath, [MAIN, 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
    cwd: ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let partial = '';
  const lines: LogLine[] = [];
  let lastPeak = 0;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let exitedNow = false;
  void exited.then(() => (exitedNow = true));
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      if (line.trim() === '') continue;
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        lines.push({ level: 0, msg: `(not JSON) ${line}` });
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  collector.source(`${label}: daemon stdout`, () => out);
  collector.source(`${label}: daemon stderr`, () => err);

  const pid = child.pid;
  if (pid === undefined) throw new Error(`${label}: the master did not start`);
  const waitLog = (match: (line: LogLine) => boolean, what: string, timeoutMs = 10_000): Promise<LogLine> =>
    waitFor(`${label}: ${what}`, () => {
      if (exitedNow) throw new Error(`${label} exited; stderr: ${err.slice(0, 500)}`);
      return lines.find(match);
    }, { timeoutMs });
  const listening = await waitLog((l) => l.msg === 'listening', 'listening');
  const daemon: Daemon = {
    label,
    child,
    pid,
    port: Number(listening.port),
    lines,
    stdout: () => out,
    stderr: () => err,
    exited,
    alive: () => !exitedNow && child.exitCode === null && child.signalCode === null,
    waitLog,
    peakRssBytes() {
      lastPeak = Math.max(lastPeak, processMemory(pid)?.peakRssBytes ?? 0);
      return lastPeak;
    },
    async stop() {
      daemon.peakRssBytes();
      if (daemon.alive()) child.kill('SIGTERM');
      return exited;
    },
  };
  daemons.push(daemon);
  return daemon;
}
