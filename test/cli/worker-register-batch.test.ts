import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { MAIN, ROOT, cleanEnv, runCli, type CliRun } from './run-cli.js';

/**
 * `worker register` of many workers, as an admin runs it (the built CLI in a
 * child process): a file, standard input, ranges; all or nothing, every bad
 * line named. One database for the file.
 */
let t: TestDatabase;
let env: Record<string, string>;
let dir: string;

beforeAll(async () => {
  t = await openTestDatabase('cli_batch');
  env = { MONGODB_URI: t.uri, MONGODB_DATABASE: t.name };
  dir = await mkdtemp(join(tmpdir(), 'cli-batch-'));
});

afterAll(async () => {
  await t.close();
  await rm(dir, { recursive: true, force: true });
});

function withStdin(args: readonly string[], input: string): Promise<CliRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, elapsedMs: Date.now() - started }));
    child.stdin.end(input);
  });
}

async function registeredIds(): Promise<string[]> {
  const docs = await t.db.collection('WORKER_REGISTRY').find({}, { projection: { worker_id: 1 } }).sort({ worker_id: 1 }).toArray();
  return docs.map((d) => String(d.worker_id));
}

describe('worker register, many at once', () => {
  it('a bad file registers nothing and names every bad line with its number', async () => {
    const file = join(dir, 'bad.txt');
    await writeFile(file, ['# rack 7', 'r7-01 10.0.7.1', 'r7-02', 'r7-03 10.0.7.300', 'r7-01 10.0.7.4', 'bad id 10.0.7.5'].join('\n'));
    const result = await runCli(['worker', 'register', '--from', file], env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toEqual([
      'line 3: expected "WORKER_ID ADDRESS", found 1 field',
      expect.stringMatching(/^line 4: invalid worker address "10\.0\.7\.300"/),
      'line 5: worker "r7-01" is given twice (first on line 2)',
      'line 6: expected "WORKER_ID ADDRESS", found 3 fields',
      expect.stringMatching(/^cluster-master: error \[INVALID_WORKER_BATCH\]: nothing registered: 4 problems in ".*bad\.txt" \(listed above\)$/),
    ]);
    expect(await registeredIds()).toEqual([]);
  });

  it('a range pair registers every worker without tokens; --json prints them', async () => {
    const result = await runCli(['worker', 'register', 'gpu-[01-64]', '--ip', '10.0.4.[21-84]', '--json'], env);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const parsed = JSON.parse(result.stdout) as { workers: { worker_id: string; worker_ip: string }[] };
    expect(parsed.workers).toHaveLength(64);
    expect(parsed.workers[63]).toMatchObject({ worker_id: 'gpu-64', worker_ip: '10.0.4.84' });
    expect(result.stdout).not.toMatch(/token/i);
    expect(await t.db.collection('WORKER_CREDENTIALS').countDocuments()).toBe(0);
    expect(await registeredIds()).toHaveLength(64);
  });

  it('mismatched range lengths: nothing written, the counts named', async () => {
    const result = await runCli(['worker', 'register', 'cpu-[1-4]', '--ip', '10.0.5.[1-3]'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/"cpu-\[1-4\]" names 4 workers but "10\.0\.5\.\[1-3\]" names 3 addresses/);
    expect(await registeredIds()).toHaveLength(64);
  });

  it('an id that exists: nothing registered, its line named (standard input)', async () => {
    const result = await withStdin(['worker', 'register', '--from', '-'], 'new-01 10.0.6.1\ngpu-07 10.0.4.27\nnew-02 10.0.6.2\ngpu-09 10.0.4.29\n');
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      'line 2: worker "gpu-07" is already registered',
      'line 4: worker "gpu-09" is already registered',
      expect.stringMatching(/^cluster-master: error \[INVALID_WORKER_BATCH\]: nothing registered: 2 of the workers are registered already/),
    ]);
    expect(await registeredIds()).not.toContain('new-01');
  });

  it('standard input registers, and the table says the workers wait for enrollment', async () => {
    const result = await withStdin(['worker', 'register', '--from', '-'], 'new-01 10.0.6.1\nnew-02 10.0.6.2\n');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain('Registered 2 workers; no tokens were issued: they wait for enrollment.');
    expect(result.stdout).toMatch(/new-02\s+10\.0\.6\.2/);
    expect(await registeredIds()).toContain('new-02');
  });

  it('one worker is registered as before, with its token', async () => {
    const result = await runCli(['worker', 'register', 'solo', '10.0.9.1'], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Token: [A-Za-z0-9_-]{43}/);
  });
});
