import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { MAIN, cleanEnv, run, type CliRun } from './run-cli.js';

/**
 * `--token-file` of `worker register` and `worker token`, as an admin runs
 * them: the built CLI in a shell whose umask lets everyone read new files (the
 * file must still be 0600), against the dev database.
 */
let t: TestDatabase;
let env: Record<string, string>;
let dir: string;

beforeAll(async () => {
  t = await openTestDatabase('cli_token_file');
  env = { MONGODB_URI: t.uri, MONGODB_DATABASE: t.name };
  dir = await mkdtemp(join(tmpdir(), 'token-file-'));
});

afterAll(async () => {
  await t.close();
  await rm(dir, { recursive: true, force: true });
});

function cli(...args: string[]): Promise<CliRun> {
  const quoted = args.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ');
  return run('bash', ['-c', `umask 000; exec node ${MAIN} ${quoted}`], cleanEnv(env));
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

async function storedHash(workerId: string): Promise<unknown> {
  return (await t.db.collection('WORKER_CREDENTIALS').findOne({ worker_id: workerId }))?.token_hash;
}

/** Only the token files the test named: no temporary file left beside them. */
async function filesIn(): Promise<string[]> {
  return (await readdir(dir)).sort();
}

describe('worker register --token-file', () => {
  it('writes the token to a new file, mode 0600 whatever the umask, and does not print it', async () => {
    const file = join(dir, 'gpu-01.token');
    const result = await cli('worker', 'register', 'gpu-01', '10.9.0.1', '--token-file', file);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const content = await readFile(file, 'utf8');
    expect(content).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(result.stdout).toContain(`Token written to ${file} (mode 0600)`);
    expect(result.stdout).not.toContain(content.trim());
    expect(await storedHash('gpu-01')).toBe(sha256(content.trim()));
    expect(await filesIn()).toEqual(['gpu-01.token']);
  });

  it('for a worker already registered: exit 1, the file untouched, and the error names `worker token ID`', async () => {
    const file = join(dir, 'gpu-01.token');
    const before = await readFile(file, 'utf8');
    const result = await cli('worker', 'register', 'gpu-01', '10.9.0.1', '--token-file', file);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^cluster-master: error \[WORKER_ALREADY_REGISTERED\]: [^\n]+\n$/);
    expect(result.stderr).toContain('cluster-master worker token gpu-01');
    expect(await readFile(file, 'utf8')).toBe(before);
    expect(await filesIn()).toEqual(['gpu-01.token']);
  });

  it('into a directory that does not exist: exit 2, nothing registered', async () => {
    const result = await cli('worker', 'register', 'gpu-02', '10.9.0.2', '--token-file', join(dir, 'missing', 'gpu-02.token'));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^cluster-master: error \[TOKEN_FILE\]: cannot write token file .*missing\/gpu-02\.token: no such directory/);
    expect(await t.db.collection('WORKER_REGISTRY').countDocuments({ worker_id: 'gpu-02' })).toBe(0);
  });

  it('--json names the file instead of giving the token', async () => {
    const file = join(dir, 'gpu-03.token');
    const result = await cli('worker', 'register', 'gpu-03', '10.9.0.3', '--token-file', file, '--json');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const parsed = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(parsed).toMatchObject({ worker: { worker_id: 'gpu-03' }, token_file: file });
    expect(parsed).not.toHaveProperty('token');
  });
});

describe('worker token --token-file', () => {
  it('replaces the file as a whole (a new file, 0600 even where the old one was 0644)', async () => {
    const file = join(dir, 'gpu-01.token');
    const before = await readFile(file, 'utf8');
    await chmod(file, 0o644);
    const inodeBefore = (await stat(file)).ino;
    const result = await cli('worker', 'token', 'gpu-01', '--token-file', file);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const after = await readFile(file, 'utf8');
    expect(after).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    expect(after).not.toBe(before);
    expect(result.stdout).not.toContain(after.trim());
    const stats = await stat(file);
    expect(stats.mode & 0o777).toBe(0o600);
    // Renamed into place, not rewritten: a reader never sees a half-written file.
    expect(stats.ino).not.toBe(inodeBefore);
    expect(await storedHash('gpu-01')).toBe(sha256(after.trim()));
  });

  it('of an unknown worker: exit 1, the file untouched', async () => {
    const file = join(dir, 'gpu-01.token');
    const before = await readFile(file, 'utf8');
    const result = await cli('worker', 'token', 'nobody', '--token-file', file);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[WORKER_NOT_FOUND]');
    expect(await readFile(file, 'utf8')).toBe(before);
    expect(await filesIn()).toEqual(['gpu-01.token', 'gpu-03.token']);
  });

  it('to a path that is a directory: exit 2, the old token still in force', async () => {
    const hash = await storedHash('gpu-01');
    const result = await cli('worker', 'token', 'gpu-01', '--token-file', dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('is not a regular file');
    expect(await storedHash('gpu-01')).toBe(hash);
  });
});

describe('admin token --token-file', () => {
  it('writes a new admin token to the file (0600), not to the terminal; --list and --revoke refuse the option', async () => {
    const file = join(dir, 'admin.token');
    const result = await cli('admin', 'token', '--token-file', file);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const token = (await readFile(file, 'utf8')).trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(result.stdout).toMatch(/^New admin token [0-9a-f]{16}\.\n/);
    expect(result.stdout).not.toContain(token);
    expect(await t.db.collection('ADMIN_TOKENS').countDocuments({ token_hash: sha256(token) })).toBe(1);
    const list = await cli('admin', 'token', '--list', '--token-file', file);
    expect(list.code).toBe(2);
    expect(list.stderr).toMatch(/^cluster-master: error \[USAGE\]/);
  });
});
