import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MongoClient, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLLECTIONS } from '../../packages/master/src/registry/collections.js';
import { newWorkerDocument } from '../../packages/master/src/registry/document.js';
import { createWorkerRegistry, type WorkerRegistry } from '../../packages/master/src/registry/worker-registry.js';
import { setUpdateBuilt } from './explain.js';

/**
 * What the dev database runs in SQLite for the master's hot writes, read from
 * its own statement log (FerretDB logs every statement at debug level, and the
 * set-update patch logs its statements and their EXPLAIN QUERY PLAN).
 * Built with set-update, each of them is one SELECT through an index and one
 * UPDATE ... json_set by rowid, and no per-document statement; built without
 * it (DEVDB_SET_PUSHDOWN=0, DEVDB_PUSHDOWN=0 or DEVDB_UPSTREAM=1), FerretDB
 * writes document by document.
 * A server of the test's own (the global setup built the binary), since the
 * shared one logs at warn level.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const NOW = new Date('2025-10-15T10:35:00Z');
const SECOND = Math.floor(NOW.getTime() / 1000);
const ids = Array.from({ length: 300 }, (_, i) => `worker-${String(i).padStart(3, '0')}`);

let dir: string;
let server: ChildProcess;
let client: MongoClient;
let db: Db;
let registry: WorkerRegistry;

async function startServer(): Promise<string> {
  dir = `${root}.cache/devdb/set-update-log-${randomBytes(4).toString('hex')}`;
  await mkdir(`${dir}/data`, { recursive: true });
  const log = createWriteStream(`${dir}/log`);
  server = spawn(`${root}.cache/devdb/ferretdb-dev`, ['-listen', '127.0.0.1:0', '-data', `${dir}/data`, '-log-level', 'debug'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stderr?.pipe(log);
  return new Promise((resolve, reject) => {
    let out = '';
    server.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const ready = /^READY (\S+)$/m.exec(out);
      if (ready?.[1] !== undefined) resolve(ready[1]);
    });
    server.once('exit', (code) => reject(new Error(`ferretdb-dev exited (${code}) before READY; log in ${dir}/log`)));
  });
}

beforeAll(async () => {
  const uri = await startServer();
  client = new MongoClient(uri);
  await client.connect();
  db = client.db('set_update_log');
  registry = createWorkerRegistry(db, { now: () => NOW });
  await registry.ensureCollections();
  await db.collection(COLLECTIONS.workers).insertMany(ids.map((id) => newWorkerDocument(id, '10.0.0.1', NOW)));
});

afterAll(async () => {
  await client?.close();
  if (server?.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
});

/** The statements on the workers' table that the log gained while run ran. */
async function statementsDuring(run: () => Promise<unknown>): Promise<string[]> {
  // FerretDB logs synchronously before it answers, so the lines are there once run resolves.
  const before = (await readFile(`${dir}/log`, 'utf8')).length;
  await run();
  await new Promise((resolve) => setTimeout(resolve, 200)); // the pipe to the log file
  const lines = (await readFile(`${dir}/log`, 'utf8')).slice(before).split('\n');
  // FerretDB names the table after the collection, in lower case, with a hash.
  const table = `${COLLECTIONS.workers.toLowerCase()}_`;
  return lines.filter((line) => line.includes(table) || line.includes('devdb plan'));
}

const sqlUpdates = (lines: string[]) => lines.filter((l) => /msg="devdb <<< UPDATE \\"worker_registry_\w+\\" SET _ferretdb_sjson = json_set\(/.test(l));
const perDocument = (lines: string[]) => lines.filter((l) => /msg=">>> UPDATE \\"worker_registry_\w+\\" SET _ferretdb_sjson = \? WHERE/.test(l));
const reads = (lines: string[]) => lines.filter((l) => /msg=">>> SELECT +_ferretdb_sjson FROM \\"worker_registry_/.test(l));
const plans = (lines: string[]) => lines.filter((l) => l.includes('devdb plan <<< '));
const rowsOf = (line: string) => Number(/ rows=(\d+)/.exec(line)?.[1]);

describe("the master's hot writes in SQLite", () => {
  const cases: [string, () => Promise<number>, number][] = [
    ['heartbeats (updateMany $in, three fields)', async () => (await registry.recordHeartbeats(ids.slice(0, 200), SECOND, NOW)).matched, 200],
    ['inactive flags ($in and is_active)', () => registry.markInactive(ids.slice(0, 50), NOW), 50],
    ['the stale sweep (is_active and last_heartbeat $lt)', () => registry.sweepStale(SECOND + 1, NOW), 150],
  ];

  it.each(cases)('%s', async (_name, run, expected) => {
    let result = 0;
    const lines = await statementsDuring(async () => {
      result = await run();
    });
    expect(result).toBe(expected);
    if (setUpdateBuilt()) {
      expect(sqlUpdates(lines)).toHaveLength(1);
      expect(rowsOf(sqlUpdates(lines)[0] ?? '')).toBe(expected);
      expect(perDocument(lines)).toEqual([]);
      expect(reads(lines)).toEqual([]);
      // The SELECT finds the rows through an index; the UPDATE writes the ones it listed by rowid.
      const [select, update] = plans(lines);
      expect(plans(lines)).toHaveLength(2);
      expect(select).toMatch(/SEARCH worker_registry_\w+ USING (UNIQUE )?INDEX/);
      expect(select).not.toMatch(/SCAN worker_registry_/);
      expect(update).toMatch(/SEARCH worker_registry_\w+ USING INTEGER PRIMARY KEY \(rowid=\?\)/);
      expect(update).not.toMatch(/SCAN worker_registry_/);
    } else {
      expect(sqlUpdates(lines)).toEqual([]);
      expect(perDocument(lines)).toHaveLength(expected);
    }
  });

  it('a filter it cannot answer exactly ($or) goes through FerretDB, document by document', async () => {
    const lastWritten = new Map<string, number>([
      ['worker-250', SECOND],
      ['worker-251', SECOND - 1],
    ]);
    await registry.recordHeartbeats(ids.slice(250, 252), SECOND, NOW);
    let flagged = 0;
    const lines = await statementsDuring(async () => {
      flagged = await registry.markInactive(ids.slice(250, 252), NOW, lastWritten);
    });
    // worker-251 beat after the second its flag was decided on: it stays active.
    expect(flagged).toBe(1);
    expect(sqlUpdates(lines)).toEqual([]);
    expect(perDocument(lines)).toHaveLength(1);
  });
});
