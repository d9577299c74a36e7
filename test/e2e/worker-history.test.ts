import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FAKE_SPECS, agentUrl, masterCli, registerWorker, startAgent, startMaster, type DbTarget, scenarioDatabase } from './support/cluster.js';
import { DevDb } from './support/devdb.js';
import { ProcSet, liveChildren } from './support/processes.js';

/**
 * A worker's life on the built cluster-master and cluster-agent processes,
 * read back from WORKER_EVENTS: exactly the expected events, in order, each
 * by the process that saw it. Same timings as faults.test.ts (beats every
 * 200 ms, timeout 1.5 s); the masters re-read the admission version every
 * 200 ms so that an admin change reaches them at once.
 */

interface EventDoc {
  _id: string;
  worker_id: string;
  at: Date;
  kind: string;
  cause: string | null;
  instance: string;
  detail?: Record<string, unknown>;
}

let db: DevDb | undefined;
let client: MongoClient | undefined;
const uri = (): string => {
  if (db === undefined) throw new Error('the dev database did not start');
  return db.uri;
};

beforeAll(async () => {
  db = await DevDb.start();
  client = new MongoClient(db.uri);
  await client.connect();
}, 180_000);

afterAll(async () => {
  const leaked = liveChildren();
  await Promise.all(leaked.map((p) => p.kill()));
  await client?.close();
  await db?.destroy();
  if (leaked.length > 0) throw new Error(`processes outlived their test: ${leaked.map((p) => p.name).join(', ')}`);
}, 60_000);

function events(target: DbTarget, workerId: string): Promise<EventDoc[]> {
  if (client === undefined) throw new Error('no client');
  return client.db(target.database).collection<EventDoc>('WORKER_EVENTS').find({ worker_id: workerId }).sort({ at: 1, _id: 1 }).toArray();
}

/** Polls WORKER_EVENTS until the worker's history holds `kind` (with `cause`, when given) `count` times. */
async function until(target: DbTarget, workerId: string, kind: string, cause?: string, count = 1, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const found = (await events(target, workerId)).filter((e) => e.kind === kind && (cause === undefined || e.cause === cause));
    if (found.length >= count) return;
    if (performance.now() > deadline) {
      const seen = (await events(target, workerId)).map((e) => `${e.kind}:${e.cause ?? ''}`);
      throw new Error(`timed out waiting for ${count} × ${kind}${cause === undefined ? '' : `:${cause}`}; history so far: ${seen.join(', ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function cli(target: DbTarget, args: string[]): Promise<string> {
  const result = await masterCli(target, args);
  if (result.code !== 0) throw new Error(`cluster-master ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

const MASTER_ARGS = ['--view-refresh-ms', '200'];

describe.sequential('worker history (real processes, dev database)', () => {
  test('one master: register, admit, SIGKILL, timeout, return, token rotation, address change, unregister', async () => {
    const procs = new ProcSet();
    const target: DbTarget = { uri: uri(), database: scenarioDatabase('hist1') };
    try {
      const token = await registerWorker(target, 'h1');
      const master = await startMaster(procs, target, 'master', { extraArgs: MASTER_ARGS });
      const url = agentUrl(master);
      const first = startAgent(procs, 'agent-1', { masterUrl: url, workerId: 'h1', token, specs: FAKE_SPECS });
      await until(target, 'h1', 'specs_changed');
      first.signal('SIGKILL');
      await until(target, 'h1', 'flagged_inactive', 'timeout');

      const second = startAgent(procs, 'agent-2', { masterUrl: url, workerId: 'h1', token, specs: FAKE_SPECS, refusedRetryMs: 500 });
      await until(target, 'h1', 'admitted', undefined, 2);
      // A new token: the master closes the session (4401) and the agent, back with its old token, is refused.
      const rotated = JSON.parse(await cli(target, ['worker', 'token', 'h1', '--json'])) as { token: string };
      await until(target, 'h1', 'refused', 'unauthorized');
      await second.kill();

      const third = startAgent(procs, 'agent-3', { masterUrl: url, workerId: 'h1', token: rotated.token, specs: FAKE_SPECS, refusedRetryMs: 500 });
      await until(target, 'h1', 'admitted', undefined, 3);
      // Another address: the session is closed (4403) and the agent refused from 127.0.0.1; back again, it returns.
      await cli(target, ['worker', 'update', 'h1', '--ip', '127.0.0.2']);
      await until(target, 'h1', 'refused', 'forbidden');
      await cli(target, ['worker', 'update', 'h1', '--ip', '127.0.0.1']);
      await until(target, 'h1', 'admitted', undefined, 4);
      await cli(target, ['worker', 'unregister', 'h1']);
      await until(target, 'h1', 'disconnected', 'unregistered');
      await third.kill();
      await master.proc.kill();

      const history = await events(target, 'h1');
      const instance = history.find((e) => e.kind === 'admitted')?.instance ?? '';
      expect(instance).toMatch(/^[0-9a-f-]{36}$/);
      const lines = history.map((e) => `${e.kind}:${e.cause ?? ''}@${e.instance === instance ? 'master' : e.instance.startsWith('cli@') ? 'cli' : e.instance}`);
      expect(lines).toEqual([
        'registered:@cli',
        'admitted:@master',
        'specs_changed:@master',
        'disconnected:connection_lost@master',
        'flagged_inactive:timeout@master',
        'admitted:@master',
        'token_rotated:@cli',
        'disconnected:unauthorized@master',
        'flagged_inactive:master_close@master',
        'refused:unauthorized@master',
        'admitted:@master',
        'address_changed:@cli',
        'disconnected:address_changed@master',
        'flagged_inactive:master_close@master',
        'refused:forbidden@master',
        'address_changed:@cli',
        'admitted:@master',
        'unregistered:@cli',
        'disconnected:unregistered@master',
      ]);
      // What the events carry.
      expect(history.find((e) => e.kind === 'admitted')?.detail).toMatchObject({ address: '127.0.0.1', protocol_version: expect.any(Number) as unknown });
      expect(history.find((e) => e.kind === 'specs_changed')?.detail).toMatchObject({ to: FAKE_SPECS });
      expect(history.filter((e) => e.kind === 'address_changed').map((e) => e.detail)).toEqual([
        { from: '127.0.0.1', to: '127.0.0.2' },
        { from: '127.0.0.2', to: '127.0.0.1' },
      ]);
      // The command reads the same history: JSON lines in a pipe.
      const printed = (await cli(target, ['worker', 'events', 'h1', '--kind', 'flagged_inactive'])).trim().split('\n').map((line) => JSON.parse(line) as { kind: string; cause: string });
      expect(printed.map((e) => `${e.kind}:${e.cause}`)).toEqual(['flagged_inactive:timeout', 'flagged_inactive:master_close', 'flagged_inactive:master_close']);
    } catch (error) {
      console.log(procs.diagnostics());
      throw error;
    } finally {
      await procs.killAll();
    }
  }, 90_000);

  test('two masters sharing the database: each writes what it saw, the survivor sweeps the worker of the one killed', async () => {
    const procs = new ProcSet();
    const target: DbTarget = { uri: uri(), database: scenarioDatabase('hist2') };
    try {
      const token = await registerWorker(target, 'h2');
      const [one, two] = await Promise.all([
        startMaster(procs, target, 'master-1', { extraArgs: MASTER_ARGS }),
        startMaster(procs, target, 'master-2', { extraArgs: MASTER_ARGS }),
      ]);
      const first = startAgent(procs, 'agent-1', { masterUrl: agentUrl(one), workerId: 'h2', token, specs: FAKE_SPECS });
      await until(target, 'h2', 'specs_changed');
      // The agent and its master die together: nobody sees the disconnect, the other master's sweep flags it.
      first.signal('SIGKILL');
      one.proc.signal('SIGKILL');
      await until(target, 'h2', 'flagged_inactive', 'sweep', 1, 20_000);
      const second = startAgent(procs, 'agent-2', { masterUrl: agentUrl(two), workerId: 'h2', token, specs: FAKE_SPECS });
      await until(target, 'h2', 'admitted', undefined, 2);
      second.signal('SIGTERM');
      await until(target, 'h2', 'flagged_inactive', 'clean_close');
      await cli(target, ['worker', 'unregister', 'h2']);
      await until(target, 'h2', 'unregistered');
      await two.proc.kill();

      const history = await events(target, 'h2');
      const byOne = history.find((e) => e.kind === 'admitted')?.instance;
      const byTwo = history.find((e) => e.kind === 'flagged_inactive')?.instance;
      expect(byOne).toBeDefined();
      expect(byTwo).toBeDefined();
      expect(byOne).not.toBe(byTwo);
      const who = (instance: string): string => (instance === byOne ? 'one' : instance === byTwo ? 'two' : instance.startsWith('cli@') ? 'cli' : instance);
      expect(history.map((e) => `${e.kind}:${e.cause ?? ''}@${who(e.instance)}`)).toEqual([
        'registered:@cli',
        'admitted:@one',
        'specs_changed:@one',
        'flagged_inactive:sweep@two',
        'admitted:@two',
        'disconnected:clean_close@two',
        'flagged_inactive:clean_close@two',
        'unregistered:@cli',
      ]);
    } catch (error) {
      console.log(procs.diagnostics());
      throw error;
    } finally {
      await procs.killAll();
    }
  }, 90_000);
});
