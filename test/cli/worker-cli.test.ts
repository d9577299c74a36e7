import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { MAIN, cleanEnv, run, runCli, type CliRun } from './run-cli.js';

/**
 * The admin CLI as a user runs it: the built binary in a child process, with
 * the database given in the environment. One database for the file; the
 * tests run in order, like an admin's session.
 */
let t: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  t = await openTestDatabase('cli_e2e');
  env = { MONGODB_URI: t.uri, MONGODB_DATABASE: t.name };
});

afterAll(async () => {
  await t.close();
});

function expectOneErrorLine(result: CliRun, code: number, errorCode: string): void {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(new RegExp(`^cluster-master: error \\[${errorCode}\\]: [^\\n]+\\n$`));
}

let token = '';

describe('cluster-master', () => {
  it('--help lists the commands and the environment, exit 0', async () => {
    const result = await runCli(['--help'], env);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain('cluster-master worker');
    expect(result.stdout).toContain('cluster-master db');
    expect(result.stdout).toContain('MONGODB_URI');
  });

  it('is what `pnpm cluster-master` runs from the repository root', async () => {
    const result = await run('pnpm', ['--silent', 'cluster-master', 'worker', '--help'], cleanEnv(env));
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('cluster-master worker register [worker_id] [worker_ip]');
  });

  it('worker register prints the worker and its token once, with a warning', async () => {
    const result = await runCli(['worker', 'register', 'worker-1', '192.168.1.10'], env);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain('Registered worker worker-1 (192.168.1.10).');
    expect(result.stdout).toContain('shown only this once');
    token = /Token: ([A-Za-z0-9_-]{43})\n/.exec(result.stdout)?.[1] ?? '';
    expect(token).not.toBe('');
    expect(result.stdout.split(token)).toHaveLength(2);
  });

  it('worker register --json gives the worker and the token', async () => {
    const result = await runCli(['worker', 'register', 'worker-2', 'node-2.example', '--json'], env);
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout) as { worker: { worker_id: string; registered_at: string }; token: string };
    expect(parsed.worker.worker_id).toBe('worker-2');
    expect(new Date(parsed.worker.registered_at).toISOString()).toBe(parsed.worker.registered_at);
    expect(parsed.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('worker list prints a table; --json an array; neither shows a token', async () => {
    const table = await runCli(['worker', 'list'], env);
    expect(table).toMatchObject({ code: 0, stderr: '' });
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^WORKER_ID\s+IP\s+ACTIVE\s+CPU\s+MEMORY_GIB\s+STORAGE_GB\s+GPU\s+LAST_HEARTBEAT\s+REGISTERED_AT$/);
    expect(lines[1]).toMatch(/^worker-1\s+192\.168\.1\.10\s+no\s+0\s+0\s+0\s+0\s+never\s+\d{4}-\d\d-\d\dT/);
    expect(lines[2]).toMatch(/^worker-2\s+node-2\.example\s+no\b/);
    const json = await runCli(['worker', 'list', '--inactive', '--json'], env);
    expect((JSON.parse(json.stdout) as { worker_id: string }[]).map((w) => w.worker_id)).toEqual(['worker-1', 'worker-2']);
    expect(table.stdout + json.stdout).not.toContain(token);
  });

  it('worker show prints one worker without its token', async () => {
    const result = await runCli(['worker', 'show', 'worker-1'], env);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain('worker_ip       192.168.1.10');
    expect(result.stdout).not.toContain(token);
  });

  it('a second registration fails: exit 1, one line', async () => {
    expectOneErrorLine(await runCli(['worker', 'register', 'worker-1', '192.168.1.10'], env), 1, 'WORKER_ALREADY_REGISTERED');
  });

  it('an invalid worker id: exit 2, one line', async () => {
    expectOneErrorLine(await runCli(['worker', 'register', 'bad$id', '192.168.1.10'], env), 2, 'INVALID_WORKER_ID');
  });

  it('an unknown flag: exit 2, one line and no usage dump', async () => {
    expectOneErrorLine(await runCli(['worker', 'list', '--everything'], env), 2, 'USAGE');
  });

  it('conflicting flags: exit 2, one line', async () => {
    expectOneErrorLine(await runCli(['worker', 'list', '--active', '--inactive'], env), 2, 'USAGE');
  });

  it('worker token replaces the token', async () => {
    const result = await runCli(['worker', 'token', 'worker-1', '--json'], env);
    expect(result.code).toBe(0);
    const rotated = (JSON.parse(result.stdout) as { token: string }).token;
    expect(rotated).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(rotated).not.toBe(token);
  });

  it('worker unregister deletes; afterwards the worker is not found: exit 1', async () => {
    const result = await runCli(['worker', 'unregister', 'worker-1'], env);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expectOneErrorLine(await runCli(['worker', 'show', 'worker-1'], env), 1, 'WORKER_NOT_FOUND');
  });

  it('worker unregister of an unknown worker: exit 1, one line', async () => {
    expectOneErrorLine(await runCli(['worker', 'unregister', 'nobody'], env), 1, 'WORKER_NOT_FOUND');
  });

  it('db init reports the database is up to date', async () => {
    const result = await runCli(['db', 'init'], env);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain('up to date');
  });
});

describe('arguments that look like options', () => {
  it('worker register -dash 10.0.0.1 is a usage error (not help), registering nothing', async () => {
    const result = await runCli(['worker', 'register', '-dash', '10.0.0.1'], env);
    expectOneErrorLine(result, 2, 'USAGE');
    expect(result.stderr).toContain('-dash');
    expect(await t.db.collection('WORKER_REGISTRY').countDocuments({ worker_ip: '10.0.0.1' })).toBe(0);
  });

  it('-- ends the options: worker register --json -- ID IP registers', async () => {
    const result = await runCli(['worker', 'register', '--json', '--', 'dash-dash', '10.0.0.9'], env);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect((JSON.parse(result.stdout) as { worker: { worker_id: string } }).worker.worker_id).toBe('dash-dash');
  });

  it('after --, an operand that starts with "-" is a usage error', async () => {
    expectOneErrorLine(await runCli(['worker', 'register', '--', '-x', '10.0.0.9'], env), 2, 'USAGE');
  });
});

describe('a reader that goes away', () => {
  beforeAll(async () => {
    // Enough output (about 150 kB of JSON) that it cannot all fit in the pipe before the reader leaves.
    const docs = Array.from({ length: 500 }, (_, i) => ({
      worker_id: `pipe-${i}`,
      worker_ip: '10.1.0.1',
      total_cpu: 1,
      total_memory: 1,
      total_storage: 1,
      total_gpu: 0,
      is_active: false,
      last_heartbeat: 0,
      registered_at: new Date(),
      updated_at: new Date(),
    }));
    await t.db.collection('WORKER_REGISTRY').insertMany(docs);
  });

  it.each(['head -1', 'true'])('worker list --json | %s: exit 0, nothing on stderr', async (reader) => {
    const result = await run('bash', ['-c', `node ${MAIN} worker list --json | ${reader} >/dev/null; echo "exit=\${PIPESTATUS[0]}"`], cleanEnv(env));
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('exit=0\n');
  });
});

describe('worker list --min-cpu / --min-memory', () => {
  it('mean at least: a 2-core, 23.59 GiB worker is listed by --min-cpu 2 --min-memory 23.59', async () => {
    expect((await runCli(['worker', 'register', 'exact-fit', '10.2.0.1'], env)).code).toBe(0);
    await t.db.collection('WORKER_REGISTRY').updateOne({ worker_id: 'exact-fit' }, { $set: { total_cpu: 2, total_memory: 23.59 } });
    const ids = async (...flags: string[]): Promise<string[]> => {
      const result = await runCli(['worker', 'list', '--json', '--ip', '10.2.0.1', ...flags], env);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      return (JSON.parse(result.stdout) as { worker_id: string }[]).map((w) => w.worker_id);
    };
    expect(await ids('--min-cpu', '2', '--min-memory', '23.59')).toEqual(['exact-fit']);
    expect(await ids('--min-cpu', '3')).toEqual([]);
    expect(await ids('--min-memory', '23.6')).toEqual([]);
  });
});

describe('worker update --ip', () => {
  it('changes worker_ip and updated_at only: token, registered_at and specs stay', async () => {
    expect((await runCli(['worker', 'register', 'mover', '10.3.0.1'], env)).code).toBe(0);
    const workers = t.db.collection('WORKER_REGISTRY');
    const credentials = t.db.collection('WORKER_CREDENTIALS');
    const before = await workers.findOne({ worker_id: 'mover' });
    const credentialBefore = await credentials.findOne({ worker_id: 'mover' });
    const result = await runCli(['worker', 'update', 'mover', '--ip', '10.3.0.2', '--json'], env);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(result.stdout)).toMatchObject({ worker_id: 'mover', worker_ip: '10.3.0.2' });
    const after = await workers.findOne({ worker_id: 'mover' });
    const unchanged = (doc: Record<string, unknown> | null): Record<string, unknown> =>
      Object.fromEntries(Object.entries(doc ?? {}).filter(([key]) => key !== 'worker_ip' && key !== 'updated_at'));
    expect(unchanged(after)).toEqual(unchanged(before));
    expect(Object.keys(unchanged(after))).toContain('registered_at');
    expect(after?.worker_ip).toBe('10.3.0.2');
    expect(await credentials.findOne({ worker_id: 'mover' })).toEqual(credentialBefore);
  });

  it('an unknown worker: exit 1; a bad address or no --ip: exit 2', async () => {
    expectOneErrorLine(await runCli(['worker', 'update', 'nobody', '--ip', '10.3.0.3'], env), 1, 'WORKER_NOT_FOUND');
    expectOneErrorLine(await runCli(['worker', 'update', 'mover', '--ip', 'not an address'], env), 2, 'INVALID_WORKER_ADDRESS');
    expectOneErrorLine(await runCli(['worker', 'update', 'mover'], env), 2, 'USAGE');
  });
});

describe('a date beyond what JavaScript can represent (written by another tool)', () => {
  it('worker list --json and worker show --json print null for it, exit 0; the table prints "-"', async () => {
    expect((await runCli(['worker', 'register', 'far-date', '10.3.0.1'], env)).code).toBe(0);
    // A BSON date is 64-bit milliseconds; a JS Date stops at ±8.64e15. getTime() is what the driver serializes.
    class FarDate extends Date {
      override getTime(): number {
        return 9e15;
      }
    }
    await t.db.collection('WORKER_REGISTRY').updateOne({ worker_id: 'far-date' }, { $set: { registered_at: new FarDate() } });
    const list = await runCli(['worker', 'list', '--json', '--ip', '10.3.0.1'], env);
    expect(list).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(list.stdout)).toMatchObject([{ worker_id: 'far-date', registered_at: null }]);
    const show = await runCli(['worker', 'show', 'far-date', '--json'], env);
    expect(show).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(show.stdout)).toMatchObject({ registered_at: null });
    const table = await runCli(['worker', 'show', 'far-date'], env);
    expect(table).toMatchObject({ code: 0, stderr: '' });
    expect(table.stdout).toMatch(/^registered_at +-$/m);
  });
});
