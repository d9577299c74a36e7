import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../../test/support/database.js';
import { hashToken } from '../registry/token.js';
import { closedPort } from '../db/test-support/closed-port.js';
import { COLLECTIONS } from '../registry/collections.js';
import { createWorkerRegistry } from '../registry/worker-registry.js';
import type { OpenDatabase } from './context.js';
import { runCli } from './program.js';

/**
 * The CLI in-process, against the dev database: every command, option and
 * error path. test/cli runs the built binary for what only a process shows.
 */
const NOW = new Date('2025-10-15T10:35:00Z');
const NOW_SECONDS = NOW.getTime() / 1000;

let t: TestDatabase;

beforeEach(async () => {
  t = await openTestDatabase('cli');
});

afterEach(async () => {
  await t.close();
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(argv: string[], env: Record<string, string> = {}, openDatabase?: OpenDatabase): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const code = await runCli({
    argv,
    env: { MONGODB_URI: t.uri, MONGODB_DATABASE: t.name, ...env },
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    now: () => NOW,
    version: '1.2.3',
    ...(openDatabase === undefined ? {} : { openDatabase }),
  });
  return { code, stdout, stderr };
}

function expectOneErrorLine(result: Result, code: number, errorCode: string): void {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr.endsWith('\n')).toBe(true);
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(result.stderr).toContain(`[${errorCode}]`);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

const TOKEN = /Token: ([A-Za-z0-9_-]{43})\n/;

/** Registers through the CLI, then connects the worker through the registry. */
async function seed(): Promise<void> {
  const registry = createWorkerRegistry(t.db, { now: () => NOW });
  for (const [id, ip] of [
    ['gpu-box', '10.0.0.2'],
    ['small', '10.0.0.1'],
    ['silent', '10.0.0.1'],
    ['idle', '10.0.0.3'],
  ] as const) {
    expect((await cli(['worker', 'register', id, ip])).code).toBe(0);
  }
  const connect = (worker_id: string, total_cpu: number, total_memory: number, total_gpu: number, last_heartbeat: number) =>
    registry.updateWorkerInfo({ worker_id, total_cpu, total_memory, total_storage: 100, total_gpu, is_active: true, last_heartbeat });
  await connect('gpu-box', 32, 128, 2, NOW_SECONDS - 3);
  await connect('small', 4, 8, 0, NOW_SECONDS - 4);
  await connect('silent', 8, 16, 0, NOW_SECONDS - 600);
}

describe('worker register', () => {
  it('registers, prints the worker and the token once, and stores only its hash', async () => {
    const result = await cli(['worker', 'register', 'worker-2', '192.168.1.100']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('Registered worker worker-2 (192.168.1.100).');
    expect(result.stdout).toContain('is_active       false');
    expect(result.stdout).toContain('shown only this once');
    const token = TOKEN.exec(result.stdout)?.[1] ?? '';
    expect(result.stdout.split(token)).toHaveLength(2);
    const credential = await t.db.collection(COLLECTIONS.credentials).findOne({ worker_id: 'worker-2' });
    expect(credential?.token_hash).toBe(hashToken(token));
    expect(result.stdout).not.toContain(hashToken(token));
  });

  it('creates collections and indexes on a fresh database, so uniqueness holds from the first registration', async () => {
    await cli(['worker', 'register', 'w1', '10.0.0.1']);
    const indexes = await t.db.collection(COLLECTIONS.workers).indexes();
    expect(indexes.some((index) => index.unique === true && index.key.worker_id === 1)).toBe(true);
  });

  it('prints JSON with --json', async () => {
    const result = await cli(['worker', 'register', 'w1', '::1', '--json']);
    const parsed = JSON.parse(result.stdout) as { worker: Record<string, unknown>; token: string };
    expect(parsed.worker).toMatchObject({ worker_id: 'w1', worker_ip: '::1', total_cpu: 0, is_active: false, last_heartbeat: 0 });
    expect(parsed.worker.registered_at).toBe(NOW.toISOString());
    expect(parsed.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses a second registration: exit 1, one line', async () => {
    await cli(['worker', 'register', 'w1', '10.0.0.1']);
    expectOneErrorLine(await cli(['worker', 'register', 'w1', '10.0.0.9']), 1, 'WORKER_ALREADY_REGISTERED');
  });

  it.each([
    ['a$b', '10.0.0.1', 'INVALID_WORKER_ID'],
    ['{"$gt":""}', '10.0.0.1', 'INVALID_WORKER_ID'],
    ['x'.repeat(65), '10.0.0.1', 'INVALID_WORKER_ID'],
    ['wörker', '10.0.0.1', 'INVALID_WORKER_ID'],
    ['w1', '10.0.0.256', 'INVALID_WORKER_ADDRESS'],
    ['w1', 'not a host', 'INVALID_WORKER_ADDRESS'],
  ])('refuses %j %j: exit 2, one line, nothing stored', async (id, ip, errorCode) => {
    expectOneErrorLine(await cli(['worker', 'register', id, ip]), 2, errorCode);
    expect(await t.db.collection(COLLECTIONS.workers).countDocuments({})).toBe(0);
  });
});

describe('worker list', () => {
  beforeEach(seed);

  const listed = async (...flags: string[]) => {
    const result = await cli(['worker', 'list', '--json', ...flags]);
    expect(result.code).toBe(0);
    return (JSON.parse(result.stdout) as { worker_id: string }[]).map((w) => w.worker_id);
  };

  it('prints an aligned table with relative heartbeat times', async () => {
    const result = await cli(['worker', 'list']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^WORKER_ID\s+IP\s+ACTIVE\s+CPU/);
    expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).toEqual(['gpu-box', 'idle', 'silent', 'small']);
    expect(result.stdout).toMatch(/small\s+10\.0\.0\.1\s+yes\s+4\s+8\s+100\s+0\s+4s ago/);
    expect(result.stdout).toMatch(/idle\s+10\.0\.0\.3\s+no\s+0\s+0\s+0\s+0\s+never/);
    expect(result.stdout).toContain('10m ago');
  });

  it('prints JSON with ISO dates', async () => {
    const result = await cli(['worker', 'list', '--json']);
    const workers = JSON.parse(result.stdout) as Record<string, unknown>[];
    expect(workers).toHaveLength(4);
    expect(workers[0]).toMatchObject({ worker_id: 'gpu-box', total_gpu: 2, registered_at: NOW.toISOString() });
  });

  it.each([
    [['--active'], ['gpu-box', 'silent', 'small']],
    [['--inactive'], ['idle']],
    [['--ip', '10.0.0.1'], ['silent', 'small']],
    [['--gpu'], ['gpu-box']],
    [['--min-cpu', '4'], ['gpu-box', 'silent', 'small']],
    [['--min-memory', '8'], ['gpu-box', 'silent', 'small']],
    [['--min-cpu', '4', '--min-memory', '64'], ['gpu-box']],
    [['--stale', '300'], ['silent']],
    [['--stale', '300', '--ip', '10.0.0.2'], []],
    [['--active', '--ip', '10.0.0.1', '--min-cpu', '5'], ['silent']],
  ])('%j lists %j', async (flags, ids) => {
    expect(await listed(...flags)).toEqual(ids);
  });

  it('says so when nothing matches', async () => {
    expect((await cli(['worker', 'list', '--ip', '10.9.9.9'])).stdout).toBe('No workers match these filters.\n');
  });

  it('never prints tokens or their hashes', async () => {
    const hashes = (await t.db.collection(COLLECTIONS.credentials).find({}).toArray()).map((d) => String(d.token_hash));
    expect(hashes).toHaveLength(4);
    const output = (await cli(['worker', 'list'])).stdout + (await cli(['worker', 'list', '--json'])).stdout;
    for (const hash of hashes) expect(output).not.toContain(hash);
    expect(output).not.toMatch(/token/i);
  });

  it.each([
    [['--active', '--inactive'], 'mutually exclusive'],
    [['--stale', '60', '--inactive'], 'mutually exclusive'],
    [['--min-cpu', 'abc'], '--min-cpu'],
    [['--min-memory', '-1'], '--min-memory'],
    [['--stale', '1.5'], '--stale'],
    [['--ip'], 'ip'],
    [['--colour'], 'Unknown argument'],
    [['extra'], 'Unknown argument'],
  ])('%j is a usage error: exit 2, one line', async (flags, mentions) => {
    const result = await cli(['worker', 'list', ...flags]);
    expectOneErrorLine(result, 2, 'USAGE');
    expect(result.stderr).toContain(mentions);
  });
});

describe('an empty registry', () => {
  it('lists nothing, in words and in JSON', async () => {
    expect((await cli(['worker', 'list'])).stdout).toBe('No workers registered.\n');
    expect((await cli(['worker', 'list', '--json'])).stdout).toBe('[]\n');
  });
});

describe('worker show', () => {
  it('shows the fields of one worker, as text and JSON, without its token', async () => {
    const registered = await cli(['worker', 'register', 'w1', '10.0.0.1']);
    const token = TOKEN.exec(registered.stdout)?.[1] ?? '';
    const text = await cli(['worker', 'show', 'w1']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('worker_id       w1\n');
    expect(text.stdout).toContain('last_heartbeat  0 (never)');
    const json = await cli(['worker', 'show', 'w1', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ worker_id: 'w1', worker_ip: '10.0.0.1', is_active: false });
    for (const output of [text.stdout, json.stdout]) {
      expect(output).not.toContain(token);
      expect(output).not.toContain(hashToken(token));
    }
  });

  it('fails for an unknown worker: exit 1, one line', async () => {
    expectOneErrorLine(await cli(['worker', 'show', 'ghost']), 1, 'WORKER_NOT_FOUND');
  });

  it('needs a worker id: exit 2', async () => {
    expectOneErrorLine(await cli(['worker', 'show']), 2, 'USAGE');
  });
});

describe('worker unregister', () => {
  it('deletes the worker and its credential', async () => {
    await cli(['worker', 'register', 'w1', '10.0.0.1']);
    const result = await cli(['worker', 'unregister', 'w1']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain('Unregistered worker w1');
    expect(await t.db.collection(COLLECTIONS.workers).countDocuments({})).toBe(0);
    expect(await t.db.collection(COLLECTIONS.credentials).countDocuments({})).toBe(0);
  });

  it('prints JSON with --json', async () => {
    await cli(['worker', 'register', 'w1', '10.0.0.1']);
    expect(JSON.parse((await cli(['worker', 'unregister', 'w1', '--json'])).stdout)).toEqual({
      worker_id: 'w1',
      unregistered: true,
    });
  });

  it('fails for an unknown worker, still removing a leftover credential', async () => {
    await cli(['worker', 'register', 'w1', '10.0.0.1']);
    await t.db.collection(COLLECTIONS.workers).deleteOne({ worker_id: 'w1' });
    expectOneErrorLine(await cli(['worker', 'unregister', 'w1']), 1, 'WORKER_NOT_FOUND');
    expect(await t.db.collection(COLLECTIONS.credentials).countDocuments({})).toBe(0);
  });
});

describe('worker token', () => {
  it('replaces the token and prints the new one once', async () => {
    const first = TOKEN.exec((await cli(['worker', 'register', 'w1', '10.0.0.1'])).stdout)?.[1] ?? '';
    const result = await cli(['worker', 'token', 'w1']);
    expect(result.code).toBe(0);
    const second = TOKEN.exec(result.stdout)?.[1] ?? '';
    expect(second).not.toBe(first);
    expect(result.stdout).toContain('shown only this once');
    const credential = await t.db.collection(COLLECTIONS.credentials).findOne({ worker_id: 'w1' });
    expect(credential?.token_hash).toBe(hashToken(second));
    const json = JSON.parse((await cli(['worker', 'token', 'w1', '--json'])).stdout) as { token: string };
    expect(json.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('fails for an unknown worker: exit 1, one line', async () => {
    expectOneErrorLine(await cli(['worker', 'token', 'ghost']), 1, 'WORKER_NOT_FOUND');
  });
});

describe('db init', () => {
  it('removes the credentials of workers deleted by hand, and says so', async () => {
    await cli(['worker', 'register', 'w1', '10.0.0.1']);
    await cli(['worker', 'register', 'w2', '10.0.0.2']);
    await t.db.collection(COLLECTIONS.workers).deleteOne({ worker_id: 'w1' });
    const result = await cli(['db', 'init']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('removed credentials of workers no longer registered: 1');
    expect(await t.db.collection(COLLECTIONS.credentials).distinct('worker_id')).toEqual(['w2']);
  });

  it('creates what is missing, then reports that nothing is', async () => {
    const first = await cli(['db', 'init']);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('created collections: WORKER_REGISTRY, USERS, TASKS, ASSIGNMENTS, RESULTS, WORKER_CREDENTIALS, REGISTRY_VERSION, ADMISSION_SNAPSHOT');
    expect(first.stdout).toContain('WORKER_REGISTRY.worker_id_1');
    const second = await cli(['db', 'init', '--json']);
    expect(JSON.parse(second.stdout)).toEqual({
      database: t.name, created_collections: [], created_indexes: [], removed_credentials: 0,
      // The dev database keeps no TTL index (FerretDB 1.x): the master prunes instead.
      // No --event-ttl-days: an existing TTL is kept as it is (null: not set by this run).
      event_ttl_days: null, event_expiry: expect.stringMatching(/^(ttl_index|prune)$/) as unknown,
    });
    expect((await cli(['db', 'init'])).stdout).toContain('up to date');
  });
});

describe('help, version and usage', () => {
  it.each([
    [['--help'], 'cluster-master <command>'],
    [['worker', '--help'], 'cluster-master worker register [worker_id] [worker_ip]'],
    [['worker', 'register', '--help'], 'Positionals:'],
    [['worker', 'list', '--help'], '--min-memory'],
    [['worker', 'show', '--help'], 'cluster-master worker show <worker_id>'],
    [['worker', 'unregister', '-h'], 'Delete a worker and its token'],
    [['worker', 'token', '--help'], 'replacing its old one'],
    [['db', '--help'], 'cluster-master db init'],
    [['db', 'init', '--help'], 'safe to run again'],
  ])('%j prints help and exits 0 without a database', async (argv, mentions) => {
    const unreachable: OpenDatabase = () => Promise.reject(new Error('must not connect'));
    const result = await cli(argv, {}, unreachable);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain(mentions);
  });

  it('prints the version', async () => {
    expect(await cli(['--version'])).toEqual({ code: 0, stdout: '1.2.3\n', stderr: '' });
  });

  it.each([[[]], [['worker']], [['db']], [['frobnicate']], [['worker', 'delete', 'w1']], [['--verbose']]])(
    '%j is a usage error: exit 2, one line',
    async (argv) => {
      expectOneErrorLine(await cli(argv), 2, 'USAGE');
    },
  );
});

describe('database trouble', () => {
  it('an unreachable database: exit 1, one line naming the host and not the password', async () => {
    const port = await closedPort();
    const result = await cli(['worker', 'list'], {
      MONGODB_URI: `mongodb://cloudai:hunter2hunter2@127.0.0.1:${port}/?serverSelectionTimeoutMS=300`,
    });
    expectOneErrorLine(result, 1, 'DATABASE_UNAVAILABLE');
    expect(result.stderr).toContain(`127.0.0.1:${port}`);
    expect(result.stderr).not.toContain('hunter2');
  });

  it('invalid database settings: exit 2, one line, no secret', async () => {
    const result = await cli(['worker', 'list'], { MONGODB_URI: '', MONGODB_PASSWORD: 'hunter2hunter2' });
    expectOneErrorLine(result, 2, 'INVALID_DATABASE_SETTINGS');
    expect(result.stderr).not.toContain('hunter2');
  });

  it('an unexpected failure: exit 1, one INTERNAL line with secrets hidden', async () => {
    const failing: OpenDatabase = () => Promise.reject(new Error('boom near hunter2hunter2\n    at somewhere (x.js:1:1)'));
    const result = await cli(['worker', 'list'], { MONGODB_USERNAME: 'u', MONGODB_PASSWORD: 'hunter2hunter2', MONGODB_URI: '' }, failing);
    expectOneErrorLine(result, 1, 'INTERNAL');
    expect(result.stderr).not.toContain('hunter2');
  });
});
