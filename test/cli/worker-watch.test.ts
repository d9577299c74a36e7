import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createWorkerRegistry, type WorkerRegistry } from '../../packages/master/src/registry/worker-registry.js';
import { createWriteHorizon } from '../../packages/master/src/registry/write-horizon.js';
import { MongoClient } from 'mongodb';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { ownDevDb } from '../integration/helpers/own-devdb.js';
import { MAIN, ROOT, cleanEnv } from './run-cli.js';
import { Spawned } from './spawned.js';

/** `cluster-master worker list --watch` as a spawned process: through a pipe, and in a pseudo-terminal (util-linux script). */
let t: TestDatabase;
let registry: WorkerRegistry;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  t = await openTestDatabase('cli_watch');
  registry = createWorkerRegistry(t.db);
  await registry.ensureCollections();
  await registry.registerWorker('w-1', '10.0.0.1');
  env = cleanEnv({ MONGODB_URI: t.uri, MONGODB_DATABASE: t.name });
});
afterAll(async () => {
  await t.close();
});

const lines = (out: string): Record<string, unknown>[] =>
  out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('worker list --watch', () => {
  test('through a pipe: one JSON line per change; SIGINT exits 0', async () => {
    // The registry is read every 1.5 s here (30 s by default) and at each admin write (a new admission version).
    const p = new Spawned(spawn(process.execPath, [MAIN, 'worker', 'list', '--watch', '--interval-ms', '200', '--full-read-ms', '1500'], { cwd: ROOT, env }));
    await p.waitFor('the first read', (out) => lines(out).length === 1);
    expect(lines(p.out)[0]).toMatchObject({ event: 'added', worker_id: 'w-1', is_active: false });

    await registry.registerWorker('w-2', '10.0.0.2');
    await p.waitFor('w-2 added', (out) => lines(out).length === 2);
    await registry.updateWorkerInfo({ worker_id: 'w-1', total_cpu: 8, total_memory: 16, total_storage: 100, total_gpu: 1, is_active: true, last_heartbeat: Math.floor(Date.now() / 1000) });
    await p.waitFor('w-1 modified', (out) => lines(out).length === 3);
    // A heartbeat alone is not a change.
    await registry.updateHeartbeat('w-1', Math.floor(Date.now() / 1000) + 5);
    await new Promise((r) => setTimeout(r, 600));
    await registry.unregisterWorker('w-2');
    await p.waitFor('w-2 deleted', (out) => lines(out).length === 4);
    expect(lines(p.out).map((l) => [l.event, l.worker_id])).toEqual([
      ['added', 'w-1'], ['added', 'w-2'], ['modified', 'w-1'], ['deleted', 'w-2'],
    ]);
    expect(lines(p.out)[2]).toMatchObject({ is_active: true, total_cpu: 8 });
    // A master's flag (not an admin write: no new version) shows at the next full read, while a
    // master serves (it publishes on the write horizon; with none, the watch reads 10 times less often).
    await createWriteHorizon(t.db).publish('a-serving-master', Date.now(), Date.now());
    await t.db.collection('WORKER_REGISTRY').updateOne({ worker_id: 'w-1' }, { $set: { is_active: false } });
    await p.waitFor('w-1 flagged', (out) => lines(out).length === 5, 4_000);
    expect(lines(p.out)[4]).toMatchObject({ event: 'modified', worker_id: 'w-1', is_active: false });
    // Active again for the next test (--active).
    await t.db.collection('WORKER_REGISTRY').updateOne({ worker_id: 'w-1' }, { $set: { is_active: true } });
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(0);
  });

  test('in a pseudo-terminal: the table redrawn in place; Ctrl-C exits 0', async () => {
    // `exec`: script runs the command through $SHELL, and a shell left waiting in between (dash, the
    // /bin/sh that script takes when SHELL is unset, as in CI) is killed by the Ctrl-C itself, so script
    // would report the shell's 130 rather than the master's exit status. SHELL is pinned to dash so the
    // test runs the same everywhere.
    const command = `exec ${process.execPath} ${MAIN} worker list --watch --interval-ms 200 --active`;
    // script -e returns the child's exit status; its stdin is forwarded to the terminal, so \x03 is a real Ctrl-C.
    const p = new Spawned(spawn('script', ['-qefc', command, '/dev/null'], { cwd: ROOT, env: { ...env, SHELL: '/bin/sh' } }));
    await p.waitFor('two redraws', (out) => out.split('\x1b[H\x1b[2J').length >= 3);
    const frame = p.out.split('\x1b[H\x1b[2J').at(-2) ?? '';
    expect(frame).toContain('Every 0.2s: cluster-master worker list');
    expect(frame).toMatch(/WORKER_ID +IP +ACTIVE[^\n]*\r?\nw-1 +10\.0\.0\.1 +yes/);
    p.child.stdin.write('\x03');
    expect(await p.exited).toBe(0);
  });

  test('a database that goes away: said once on stderr, the watch goes on, and carries on when it is back', async () => {
    const dev = await ownDevDb('cli-watch');
    await dev.start();
    const admin = new MongoClient(dev.uri, { serverSelectionTimeoutMS: 5_000 });
    try {
      const own = createWorkerRegistry(admin.db('cluster_db'));
      await own.ensureCollections();
      await own.registerWorker('w-1', '10.0.0.1');
      const p = new Spawned(spawn(process.execPath, [MAIN, 'worker', 'list', '--watch', '--interval-ms', '200'], { cwd: ROOT, env: cleanEnv({ MONGODB_URI: dev.uri }) }));
      const events = (): string[] => p.out.split('\n').filter((l) => l.startsWith('{')).map((l) => {
        const e = JSON.parse(l) as { event: string; worker_id: string };
        return `${e.event} ${e.worker_id}`;
      });
      await p.waitFor('the first read', () => events().length === 1);
      await dev.crash();
      await p.waitFor('the outage said', (out) => out.includes('[DATABASE_UNAVAILABLE]'), 20_000);
      expect(p.child.exitCode).toBeNull();
      await new Promise((r) => setTimeout(r, 1_000));
      // Said once, not at every failed read.
      expect(p.out.split('[DATABASE_UNAVAILABLE]').length - 1).toBe(1);
      expect(p.out).toMatch(/still watching: retrying every 0\.2s/);
      await dev.start();
      await own.registerWorker('w-2', '10.0.0.2');
      await p.waitFor('w-2 added after the outage', () => events().includes('added w-2'), 30_000);
      expect(p.out).toContain('the database answers again');
      // w-1 was known before the outage: it is not announced again.
      expect(events()).toEqual(['added w-1', 'added w-2']);
      p.child.kill('SIGINT');
      expect(await p.exited).toBe(0);
    } finally {
      await admin.close();
      await dev.remove();
    }
  }, 90_000);
});
