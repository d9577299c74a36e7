import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv } from '../cli/run-cli.js';
import { runToEnd, spawnProc, type Proc } from '../e2e/support/processes.js';
import { freePort } from '../support/free-port.js';

/**
 * `scripts/run-local.sh` run for real, twice, against a dev database and
 * state dirs of this test's own (nothing of the repository's .cache is
 * used): the second run sees the first and says so in one line, touching
 * nothing; a database the script did not start is left running; a
 * /healthz answer that names another master is not taken for its own.
 */

let dir: string;
let env: NodeJS.ProcessEnv;
let port: number;
let uri: string;
const started: Proc[] = [];

function devdb(...args: string[]) {
  return runToEnd('bash', ['scripts/devdb.sh', ...args], env, 90_000);
}

function runLocal(stateDir: string, extra: Record<string, string> = {}): Proc {
  const proc = spawnProc('run-local', 'bash', ['scripts/run-local.sh', '--no-build'], { ...env, RUN_LOCAL_STATE_DIR: stateDir, ...extra });
  started.push(proc);
  return proc;
}

/** The worker's credential document: a second run must not rotate it. */
async function credentials(): Promise<unknown[]> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5_000 });
  try {
    return await client.db('cluster_db').collection('WORKER_CREDENTIALS').find({}, { projection: { _id: 0 } }).toArray();
  } finally {
    await client.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'run-local-'));
  port = await freePort();
  env = cleanEnv({ DEVDB_STATE_DIR: join(dir, 'devdb'), MASTER_PORT: String(port), LOG_LEVEL: 'warn' });
  // A database someone else started: the script may use it, never stop it.
  const start = await devdb('start');
  expect(start.code, start.stderr).toBe(0);
  uri = start.stdout.trim();
}, 120_000);

afterAll(async () => {
  // SIGTERM: the script's own cleanup stops what it started (agent, master).
  for (const proc of started) if (proc.alive) proc.signal('SIGTERM');
  await Promise.all(started.map((p) => Promise.race([p.closed, new Promise((r) => setTimeout(r, 15_000))])));
  for (const proc of started) await proc.kill();
  await devdb('stop');
  await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('scripts/run-local.sh, run twice (real processes)', () => {
  it('the second run sees the first, says what to do in one line and touches nothing; Ctrl-C leaves a database it did not start', async () => {
    const first = runLocal(join(dir, 'run'));
    const exported = await first.waitForLine('export line', (l) => l.text.startsWith('export MONGODB_URI='), { timeoutMs: 60_000 });
    expect(exported.text).toBe(`export MONGODB_URI=${uri}`);
    await first.waitForLine('running', (l) => l.text.startsWith('== running'), { timeoutMs: 30_000 });
    expect(first.lines.map((l) => l.text)).toContain(`== dev database at ${uri} (already running; left running)`);
    const before = await credentials();
    expect(before).toHaveLength(1);

    // Second run, same state dir: one line, exit 1, nothing started or rotated.
    const second = await runToEnd('bash', ['scripts/run-local.sh', '--no-build'], { ...env, RUN_LOCAL_STATE_DIR: join(dir, 'run') }, 30_000);
    expect(second.stdout).toBe('');
    expect(second.stderr).toBe(
      `run-local.sh is already running (pid ${first.pid}, master on ws://127.0.0.1:${port}/agent): use it (in another terminal: export MONGODB_URI=${uri}), or stop it first with Ctrl-C in its terminal or kill ${first.pid}\n`,
    );
    expect(second.code).toBe(1);

    // Another state dir, same port: the port is taken; nothing started either.
    const third = await runToEnd('bash', ['scripts/run-local.sh', '--no-build'], { ...env, RUN_LOCAL_STATE_DIR: join(dir, 'run-2') }, 30_000);
    expect(third.stderr).toBe(`port ${port} on 127.0.0.1 is taken by another program (a master started by hand?): stop it, or pick another port: MASTER_PORT=${port + 1} bash scripts/run-local.sh\n`);
    expect(third.code).toBe(1);

    // The first is intact: alive, its master answers, its worker keeps its token and stays admitted, the database runs.
    expect(first.alive).toBe(true);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect(await credentials()).toEqual(before);
    expect(first.lines.filter((l) => l.json?.event === 'disconnected' || l.json?.event === 'refused')).toEqual([]);
    const status = await devdb('status');
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`uri=${uri}`);

    // Ctrl-C: the script stops its agent and master, and leaves the database it found running.
    first.signal('SIGINT');
    const exit = await first.exited;
    await first.closed;
    expect(exit.code).toBe(130);
    expect(first.lines.map((l) => l.text)).toContain('== stopped');
    expect((await devdb('status')).code).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  }, 180_000);

  it('another master answering on the port after the check is not taken for its own: one line, exit 1', async () => {
    const own = { DEVDB_STATE_DIR: join(dir, 'devdb'), MASTER_PORT: String(await freePort()) };
    const run = runLocal(join(dir, 'run-race'), own);
    // The port was free when the script checked it; another master takes it before this run's master binds it.
    // It stands in as an HTTP server answering /healthz the way a master does (its pid: this test's).
    await run.waitForLine('the database line', (l) => l.text.startsWith('== dev database at'), { timeoutMs: 60_000 });
    const other = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(`${JSON.stringify({ status: 'ok', pid: process.pid, instance_id: 'another-master' })}\n`);
    });
    await new Promise<void>((resolve) => other.listen(Number(own.MASTER_PORT), '127.0.0.1', resolve));
    try {
      // The script either says so, or (before the check by pid) took the other's answer for its master's and went on.
      await run.waitForLine('its verdict', (l) => l.text.startsWith('port ') || l.text.startsWith('== agent'), { timeoutMs: 60_000 });
      expect(run.lines.map((l) => l.text).filter((t) => t.startsWith('== agent'))).toEqual([]);
      const exit = await run.exited;
      await run.closed;
      const said = run.lines.filter((l) => l.stream === 'stderr' && l.text.startsWith('port ')).map((l) => l.text);
      const masterPid = run.lines.find((l) => l.text.startsWith('port '))?.text.match(/started \(pid (\d+)\)/)?.[1];
      expect(said).toEqual([
        `port ${own.MASTER_PORT} is answered by another master (pid ${process.pid}), not the one this run started (pid ${masterPid}): stop that one, or pick another port: MASTER_PORT=${Number(own.MASTER_PORT) + 1} bash scripts/run-local.sh`,
      ]);
      expect(masterPid).not.toBe(String(process.pid));
      expect(exit.code).toBe(1);
      expect(run.lines.map((l) => l.text).filter((t) => t.startsWith('== running'))).toEqual([]);
      expect(run.lines.map((l) => l.text)).toContain('== stopped');
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  }, 180_000);

  it('a database it started is what `devdb.sh status` shows while it runs, and is stopped at Ctrl-C', async () => {
    const own = { DEVDB_STATE_DIR: join(dir, 'devdb-own'), MASTER_PORT: String(await freePort()) };
    const run = runLocal(join(dir, 'run-own'), own);
    const exported = await run.waitForLine('export line', (l) => l.text.startsWith('export MONGODB_URI='), { timeoutMs: 90_000 });
    const ownUri = exported.text.slice('export MONGODB_URI='.length);
    expect(ownUri).not.toBe(uri);
    expect(run.lines.map((l) => l.text)).toContain(`== dev database at ${ownUri} (started now; stopped at the end)`);
    const status = await runToEnd('bash', ['scripts/devdb.sh', 'status'], { ...env, ...own });
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`uri=${ownUri}`);

    run.signal('SIGINT');
    expect((await run.exited).code).toBe(130);
    await run.closed;
    const after = await runToEnd('bash', ['scripts/devdb.sh', 'status'], { ...env, ...own });
    expect(after.stdout.trim()).toBe('stopped');
    // The other database (not this run's) is still there.
    expect((await devdb('status')).code).toBe(0);
  }, 180_000);
});
