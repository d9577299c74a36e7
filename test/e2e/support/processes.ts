import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ROOT } from '../../cli/run-cli.js';

/** One line a child printed, stamped with performance.now() when this process read it. */
export interface Line {
  atMs: number;
  stream: 'stdout' | 'stderr';
  text: string;
  /** The parsed JSON log record, when the line is one. */
  json: Record<string, unknown> | undefined;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  atMs: number;
}

/** Every child spawned by this file's tests, so nothing outlives them. */
const tracked = new Set<Proc>();

process.once('exit', () => {
  // Last resort (a crashed worker): the normal path is killAll() in afterEach/afterAll.
  for (const p of tracked) {
    if (p.alive) {
      try {
        p.child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

/**
 * A child process whose stdout and stderr are kept line by line (with
 * receive timestamps) for assertions and for failure diagnostics.
 */
export class Proc {
  readonly lines: Line[] = [];
  readonly exited: Promise<Exit>;
  /** Resolves once stdout and stderr are drained too (after exited). */
  readonly closed: Promise<void>;
  exit: Exit | undefined;
  /** True once the process exited and its output is drained. */
  done = false;
  readonly spawnedAtMs = performance.now();
  #listeners = new Set<() => void>();

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    tracked.add(this);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal, atMs: performance.now() };
        resolve(this.exit);
        this.#notify();
      });
    });
    this.closed = new Promise((resolve) => {
      child.once('close', () => {
        this.done = true;
        tracked.delete(this);
        resolve();
        this.#notify();
      });
    });
    child.once('error', (error) => this.#push('stderr', `(spawn error) ${error.message}`));
    for (const stream of ['stdout', 'stderr'] as const) {
      const source = child[stream];
      if (source === null) continue;
      createInterface({ input: source, crlfDelay: Infinity }).on('line', (text) => this.#push(stream, text));
    }
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name}: not started`);
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  /** Sends a signal; returns performance.now() just before sending it. */
  signal(signal: NodeJS.Signals): number {
    const at = performance.now();
    process.kill(this.pid, signal);
    return at;
  }

  /** JSON log records (with their receive time) since line index `from`. */
  records(from = 0): { atMs: number; rec: Record<string, unknown>; index: number }[] {
    const out: { atMs: number; rec: Record<string, unknown>; index: number }[] = [];
    for (let i = from; i < this.lines.length; i++) {
      const line = this.lines[i];
      if (line?.json !== undefined) out.push({ atMs: line.atMs, rec: line.json, index: i });
    }
    return out;
  }

  /**
   * Resolves with the first line from index `from` on that matches; rejects
   * after `timeoutMs`, or as soon as the process has exited without printing it.
   */
  waitForLine(what: string, match: (line: Line) => boolean, { timeoutMs = 10_000, from = 0 } = {}): Promise<Line> {
    return new Promise((resolve, reject) => {
      let next = from;
      const check = (): boolean => {
        for (; next < this.lines.length; next++) {
          const line = this.lines[next];
          if (line !== undefined && match(line)) {
            done();
            resolve(line);
            return true;
          }
        }
        if (this.done) {
          done();
          reject(new Error(`${this.name} exited (${JSON.stringify(this.exit)}) before ${what}\n${this.tail()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${this.name}: ${what}\n${this.tail()}`));
      }, timeoutMs);
      const listener = (): void => {
        check();
      };
      const done = (): void => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
      };
      this.#listeners.add(listener);
      check();
    });
  }

  /** Waits for a JSON record matching `match`. */
  async waitForRecord(
    what: string,
    match: (rec: Record<string, unknown>) => boolean,
    options: { timeoutMs?: number; from?: number } = {},
  ): Promise<{ atMs: number; rec: Record<string, unknown> }> {
    const line = await this.waitForLine(what, (l) => l.json !== undefined && match(l.json), options);
    return { atMs: line.atMs, rec: line.json ?? {} };
  }

  /** The last lines, for failure messages. */
  tail(n = 30): string {
    const lines = this.lines.slice(-n).map((l) => `  ${l.stream === 'stderr' ? '!' : ' '} ${l.text.slice(0, 400)}`);
    return `--- ${this.name} (pid ${this.child.pid ?? '?'}, ${this.exit ? `exited ${JSON.stringify(this.exit)}` : 'running'}), last ${lines.length} lines:\n${lines.join('\n')}`;
  }

  /** SIGKILL (after SIGCONT, in case it was stopped) and wait until it is gone. */
  async kill(): Promise<void> {
    if (this.child.pid === undefined) return;
    if (this.alive) {
      try {
        process.kill(this.pid, 'SIGCONT');
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    await this.closed;
  }

  #push(stream: 'stdout' | 'stderr', text: string): void {
    let json: Record<string, unknown> | undefined;
    if (text.startsWith('{')) {
      try {
        const parsed = JSON.parse(text) as unknown;
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
      } catch {
        json = undefined;
      }
    }
    this.lines.push({ atMs: performance.now(), stream, text, json });
    this.#notify();
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

/** Spawns `command args` in the repository root with stdout and stderr piped. */
export function spawnProc(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Proc(name, child);
}

/** The processes one scenario started; killAll() in its finally. */
export class ProcSet {
  readonly all: Proc[] = [];

  add<P extends Proc>(proc: P): P {
    this.all.push(proc);
    return proc;
  }

  async killAll(): Promise<void> {
    await Promise.all(this.all.map((p) => p.kill()));
  }

  /** Tails of every process, for a failing scenario. */
  diagnostics(): string {
    return this.all.map((p) => p.tail()).join('\n');
  }
}

/** Every tracked child still alive (for the no-leak check). */
export function liveChildren(): Proc[] {
  return [...tracked].filter((p) => p.alive);
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (no tracking needed: it is awaited). */
export function runToEnd(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
