import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { expect, inject, test } from 'vitest';
import { runCli } from '../../packages/master/src/cli/program.js';
import type { ShutdownSignals } from '../../packages/master/src/cli/serve-command.js';
import { waitFor } from './helpers/harness.js';

/** `cluster-master serve` through the CLI, in-process, with a fake signal source. */
function fakeSignals(): ShutdownSignals & { send(signal: string): void } {
  let handler: ((signal: string) => void) | undefined;
  return {
    onShutdown(h) {
      handler = h;
      return () => (handler = undefined);
    },
    send(signal) {
      handler?.(signal);
    },
  };
}

test('bad configuration: exit 2 with one line on stderr, before touching the database', async () => {
  const err: string[] = [];
  const code = await runCli({
    argv: ['serve', '--heartbeat-interval-ms', '5000', '--heartbeat-timeout-ms', '6000'],
    env: { MONGODB_URI: 'mongodb://127.0.0.1:1/' },
    stdout: () => undefined,
    stderr: (t) => err.push(t),
    signals: fakeSignals(),
  });
  expect(code).toBe(2);
  expect(err.join('')).toMatch(/^cluster-master: error \[USAGE\]: the heartbeat timeout \(6000 ms\) must be at least two heartbeat intervals.*\n$/);
  const unknownFlag = await runCli({ argv: ['serve', '--bogus'], env: {}, stdout: () => undefined, stderr: () => undefined, signals: fakeSignals() });
  expect(unknownFlag).toBe(2);
});

test('serve: listens (logs its port), answers /healthz, and exits 0 within 5 s of SIGTERM', async () => {
  const out: string[] = [];
  const signals = fakeSignals();
  const database = `serve_${randomBytes(4).toString('hex')}`;
  const exit = runCli({
    argv: ['serve', '--host', '127.0.0.1', '--port', '0', '--log-level', 'info'],
    env: { MONGODB_URI: inject('mongodbUri'), MONGODB_DATABASE: database },
    stdout: (t) => out.push(t),
    stderr: (t) => out.push(t),
    signals,
  });
  const listening = await waitFor('listening line', () =>
    out
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg: string; port?: number })
      .find((line) => line.msg === 'listening'),
  );
  expect(listening.port).toBeGreaterThan(0);
  expect((await fetch(`http://127.0.0.1:${listening.port}/healthz`)).status).toBe(200);
  await waitFor('ready', async () => (await fetch(`http://127.0.0.1:${listening.port}/readyz`)).status === 200);
  const stoppedAt = performance.now();
  signals.send('SIGTERM');
  expect(await exit).toBe(0);
  expect(performance.now() - stoppedAt).toBeLessThan(5_000);
  const text = out.join('');
  expect(text).toContain('"msg":"shutting down"');
  // No planned-restart marker (MASTER_RESTART_MARKER unset: the unit's path, absent here): a stop.
  expect(text).toMatch(/"planned_restart":false[^\n]*"msg":"shutting down"/);
  expect(text).toContain('"msg":"closed"');
  await expect(fetch(`http://127.0.0.1:${listening.port}/healthz`)).rejects.toThrow();
  const client = new MongoClient(inject('mongodbUri'));
  await client.db(database).dropDatabase();
  await client.close();
});

test('serve: SIGTERM with a planned-restart marker whose deadline is ahead is a planned restart', async () => {
  const out: string[] = [];
  const signals = fakeSignals();
  const dir = await mkdtemp(join(tmpdir(), 'serve-restart-'));
  const marker = join(dir, 'planned-restart');
  // What the postinst writes on an upgrade: a deadline in Unix seconds.
  await writeFile(marker, `${Math.floor(Date.now() / 1000) + 120}\n`);
  const database = `serve_${randomBytes(4).toString('hex')}`;
  const exit = runCli({
    argv: ['serve', '--host', '127.0.0.1', '--port', '0'],
    env: { MONGODB_URI: inject('mongodbUri'), MONGODB_DATABASE: database, MASTER_RESTART_MARKER: marker },
    stdout: (t) => out.push(t),
    stderr: (t) => out.push(t),
    signals,
  });
  await waitFor('listening', () => out.join('').includes('"msg":"listening"'));
  signals.send('SIGTERM');
  expect(await exit).toBe(0);
  expect(out.join('')).toMatch(/"planned_restart":true[^\n]*"msg":"shutting down"/);
  const client = new MongoClient(inject('mongodbUri'));
  await client.db(database).dropDatabase();
  await client.close();
  await rm(dir, { recursive: true, force: true });
});
