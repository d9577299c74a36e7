import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli as runCliInProcess } from '../../../packages/master/src/cli/program.js';
import type { CliOptions } from '../../../packages/master/src/cli/context.js';
import { connectDatabase } from '../../../packages/master/src/db/connect.js';
import { closedPort } from '../../../packages/master/src/db/test-support/closed-port.js';
import { runCli as runCliSpawned, type CliRun } from '../../cli/run-cli.js';
import { openTestDatabase, type TestDatabase } from '../../support/database.js';
import { collector } from '../support/collector.js';
import { spawnMaster, type Daemon } from '../support/daemon.js';
import { rawExchange, upgradeRequest } from '../support/raw-http.js';
import { diffSnapshots, snapshot } from '../support/snapshot.js';

const AREA = 'cli';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Text a terminal or a log viewer would act on: C0 (but the final newline), DEL, C1, bidi overrides, zero-width marks. */
// eslint-disable-next-line no-control-regex -- control characters are what this looks for
export const UNSAFE_CHARS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** A test name that shows control and other invisible characters as escapes. */
function printable(value: string, max = 40): string {
  const shown = JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
  return shown.replace(/[^\x20-\x7e…]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function errorLine(code: string): RegExp {
  return new RegExp(`^cluster-master: error \\[${code}\\]: [^\\n]+\\n$`);
}

/** Whether a run printed a token by design (register / token on success): its stdout is not a place the secret scan looks. */
function printsToken(argv: readonly string[], code: number | null): boolean {
  return code === 0 && argv[0] === 'worker' && (argv[1] === 'register' || argv[1] === 'token');
}

function capture(label: string, argv: readonly string[], result: CliResult): CliResult {
  collector.text(`${label} stderr: ${argv.slice(0, 3).join(' ')}`, result.stderr);
  if (printsToken(argv, result.code)) {
    for (const token of result.stdout.match(/[A-Za-z0-9_-]{43}/g) ?? []) collector.token(token, `cli ${argv.slice(0, 3).join(' ')}`);
  } else {
    collector.text(`${label} stdout: ${argv.slice(0, 3).join(' ')}`, result.stdout);
  }
  return result;
}

/** The CLI in this process (the same runCli main.ts calls), output captured. */
async function cli(argv: readonly string[], env: Record<string, string>, extra: Partial<CliOptions> = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCliInProcess({ argv, env, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), ...extra });
  return capture('cli', argv, { code, stdout, stderr });
}

async function spawned(argv: readonly string[], env: Record<string, string>): Promise<CliRun> {
  const result = await runCliSpawned(argv, env);
  capture('cli (spawned)', argv, result);
  return result;
}

const BAD_IDS = [
  '{"$gt": ""}',
  '{"$ne":null}',
  '$where',
  'a$b',
  '.hidden',
  'a b',
  'x'.repeat(65),
  'x'.repeat(100_000),
  'a\nb',
  'a\u0000b',
  'a\u0007b',
  '\u001b[31mred',
  'a\u007fb',
  '\u009b31mred',
  'ümlaut',
  '\u202eevil',
  'zero\u200bwidth',
  '💥',
  '../etc',
  'a/b',
  '*',
];

const BAD_ADDRESSES = [
  '999.1.1.1',
  '10.0.0.300',
  '1.2.3',
  'a b',
  '$gt',
  '{"$gt":""}',
  '127.0.0.1; rm -rf /',
  'http://10.0.0.1',
  'x'.repeat(300),
  '::ffff:zz',
  'host_name',
  'a..b',
  '10.0.0.1\n',
  '\u202e1.0.0.10',
  'ümlaut.example',
];

/** Case 4: the admin CLI refuses hostile input with one clear line and a non-zero exit, and writes nothing. */
export function cliArea(): void {
  describe('4. CLI: hostile arguments and an unreachable database', () => {
    let t: TestDatabase;
    let env: Record<string, string>;
    let d3: Daemon | undefined;
    const PASSWORD = 'Hostile-Pw:s3cr3t@/#?x';
    const URI_PASSWORD = 'Uri-Pw%20secret!';
    let spawnedRuns: Promise<{ name: string; run: CliRun; check: (r: CliRun) => boolean }[]>;

    beforeAll(async () => {
      collector.secret(PASSWORD, 'database password (unreachable-database cases)');
      collector.secret(URI_PASSWORD, 'database password in a URI (unreachable-database cases)');
      t = await openTestDatabase('hostile_cli');
      collector.cleanup(() => t.close());
      env = { MONGODB_URI: t.uri, MONGODB_DATABASE: t.name };
      const port = await closedPort();
      // The spawned ones take seconds (the unreachable database is a 5 s bound): started now, checked at the end.
      spawnedRuns = Promise.all([
        spawned(['worker', 'register', 'w-x', '10.0.0.1'], { MONGODB_URI: `mongodb://admin:${encodeURIComponent(URI_PASSWORD)}@127.0.0.1:${port}/` }).then((run) => ({
          name: 'spawned: register with an unreachable database (password in MONGODB_URI)',
          run,
          check: (r: CliRun) => r.code === 1 && r.stdout === '' && errorLine('DATABASE_UNAVAILABLE').test(r.stderr),
        })),
        spawned(['worker', 'show', 'a\u001b[2Jb'], env).then((run) => ({
          name: 'spawned: show with an escape sequence in the id',
          run,
          check: (r: CliRun) => r.code === 2 && r.stdout === '' && errorLine('INVALID_WORKER_ID').test(r.stderr),
        })),
        spawned(['worker', 'list', '--$where=1'], env).then((run) => ({
          name: 'spawned: unknown flag',
          run,
          check: (r: CliRun) => r.code === 2 && r.stdout === '' && errorLine('USAGE').test(r.stderr),
        })),
      ]);
      // So does serve's first database error: started now too, checked at the end of the area.
      d3 = await spawnMaster('d3 (database unreachable)', ['--log-level', 'debug'], {
        MONGODB_URI: `mongodb://admin:${encodeURIComponent(URI_PASSWORD)}@127.0.0.1:${port}/`,
      });
      const first = await cli(['worker', 'register', 'cli-a', '10.0.0.1'], env);
      expect(first.code).toBe(0);
    });

    afterAll(async () => {
      await spawnedRuns.catch(() => undefined);
    });

    test.each(BAD_IDS.map((id) => [printable(id), id] as const))(
      'invalid worker id %s: exit 2, one line, nothing written, for register/show/unregister/token',
      async (_label, id) => {
        const before = await snapshot(t.db);
        for (const argv of [
          ['worker', 'register', id, '10.0.0.1'],
          ['worker', 'show', id],
          ['worker', 'unregister', id],
          ['worker', 'token', id],
        ]) {
          const r = await cli(argv, env);
          const ok = r.code === 2 && r.stdout === '' && errorLine('INVALID_WORKER_ID').test(r.stderr);
          collector.record(AREA, `${argv[1]} with invalid id ${printable(id, 30)}`, ok, 'refusal', r.stderr);
          expect(r.code, r.stderr).toBe(2);
          expect(r.stdout).toBe('');
          expect(r.stderr).toMatch(errorLine('INVALID_WORKER_ID'));
          expect(r.stderr.length).toBeLessThan(400);
        }
        const diffs = diffSnapshots(before, await snapshot(t.db));
        collector.registryDiff(AREA, diffs);
        expect(diffs).toEqual([]);
      },
    );

    test('error lines print no terminal control, bidi or zero-width characters from the input', async () => {
      const offenders: string[] = [];
      for (const id of BAD_IDS) {
        const r = await cli(['worker', 'show', id], env);
        if (UNSAFE_CHARS.test(r.stderr)) offenders.push(`worker show ${printable(id)}`);
      }
      for (const ip of BAD_ADDRESSES) {
        const r = await cli(['worker', 'register', 'addr-x', ip], env);
        if (UNSAFE_CHARS.test(r.stderr)) offenders.push(`worker register addr-x ${printable(ip)}`);
      }
      collector.record(AREA, 'error lines free of control, bidi and zero-width characters', offenders.length === 0, 'refusal', offenders.join('; '));
      expect(offenders, 'stderr carries these characters raw').toEqual([]);
    });

    test.each(['a.b', 'gpu01.rack2', 'A_b-c.9'])('a valid id with dots and dashes, %s, is stored exactly and removed again', async (id) => {
      const before = await snapshot(t.db);
      const reg = await cli(['worker', 'register', id, '10.0.0.9', '--json'], env);
      expect(reg.code, reg.stderr).toBe(0);
      const doc = await t.db.collection('WORKER_REGISTRY').findOne({ worker_id: id });
      expect(doc?.worker_id).toBe(id);
      expect(await t.db.collection('WORKER_REGISTRY').countDocuments({})).toBe(2);
      const show = await cli(['worker', 'show', id], env);
      expect(show.code).toBe(0);
      const unreg = await cli(['worker', 'unregister', id], env);
      expect(unreg.code).toBe(0);
      const diffs = diffSnapshots(before, await snapshot(t.db));
      collector.registryDiff(AREA, diffs);
      collector.record(AREA, `valid dotted id ${id}`, diffs.length === 0, 'valid');
      expect(diffs).toEqual([]);
    });

    test.each(BAD_ADDRESSES.map((ip) => [printable(ip), ip] as const))('invalid address %s: exit 2, nothing registered', async (_label, ip) => {
      const before = await snapshot(t.db);
      const r = await cli(['worker', 'register', 'addr-x', ip], env);
      const diffs = diffSnapshots(before, await snapshot(t.db));
      collector.registryDiff(AREA, diffs);
      collector.record(AREA, `register with address ${printable(ip, 30)}`, r.code === 2 && diffs.length === 0, 'refusal', r.stderr);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(errorLine('INVALID_WORKER_ADDRESS'));
      expect(diffs).toEqual([]);
    });

    test.each([
      [['worker', 'list', '--evil']],
      [['worker', 'list', '--$where=1']],
      [['--__proto__.polluted=yes', 'worker', 'list']],
      [['worker', 'list', '--constructor.prototype.polluted=yes']],
      [['worker', 'list', '--__proto__', 'x']],
      [['worker', 'frobnicate']],
      [['worker', 'register', 'cli-b', '10.0.0.2', 'extra']],
      [['worker', 'list', '--min-cpu', '{"$gt":0}']],
      [['worker', 'list', '--stale', '-1']],
      [['worker', 'list', '--min-memory', 'NaN']],
      [['serve', '--port', '99999']],
      [['serve', '--hello-timeout-ms', 'abc']],
      [['serve', '--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem']],
      [['serve', '--log-level', 'loud']],
      [['serve', '--host', 'a b']],
    ] as const)('%j: exit 2 with one line, nothing written', async (argv) => {
      const before = await snapshot(t.db);
      const r = await cli(argv, env);
      const diffs = diffSnapshots(before, await snapshot(t.db));
      collector.registryDiff(AREA, diffs);
      const ok = r.code === 2 && r.stdout === '' && /^cluster-master: error \[[A-Z_]+\]: [^\n]+\n$/.test(r.stderr) && diffs.length === 0;
      collector.record(AREA, `flags ${argv.join(' ').slice(0, 40)}`, ok, 'refusal', r.stderr);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^cluster-master: error \[[A-Z_]+\]: [^\n]+\n$/);
      expect(({} as Record<string, unknown>).polluted, 'Object.prototype was polluted').toBeUndefined();
      expect(diffs).toEqual([]);
    });

    test.each([
      [['worker', 'list', '--ip', '{"$ne":null}', '--json']],
      [['worker', 'list', '--ip.$ne', 'x', '--json']],
      [['worker', 'list', '--ip', '{"$regex":".*"}', '--json']],
    ] as const)('%j lists nothing: a filter value is a value, never an operator', async (argv) => {
      const r = await cli(argv, env);
      const listed = r.code === 0 ? (JSON.parse(r.stdout) as unknown[]).length : 0;
      collector.record(AREA, `filter injection ${argv.slice(2).join(' ')}`, listed === 0 && (r.code === 0 || r.code === 2), 'refusal', r.stderr);
      expect([0, 2]).toContain(r.code);
      expect(listed, r.stdout).toBe(0);
    });

    test('worker show and worker list print no token or hash', async () => {
      for (const argv of [
        ['worker', 'show', 'cli-a'],
        ['worker', 'show', 'cli-a', '--json'],
        ['worker', 'list'],
        ['worker', 'list', '--json'],
        ['worker', 'list', '--ip', '10.0.0.1'],
      ]) {
        const r = await cli(argv, env);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain('cli-a');
        for (const [secret, label] of collector.secrets) expect(r.stdout.includes(secret), `${argv.join(' ')} prints the ${label}`).toBe(false);
      }
      collector.record(AREA, 'show/list print no secret', true, 'valid');
    });

    describe('an unreachable database', () => {
      let port: number;
      beforeAll(async () => {
        port = await closedPort();
      });
      const fast = { openDatabase: (s: Parameters<typeof connectDatabase>[0]) => connectDatabase(s, { serverSelectionTimeoutMS: 300 }) };

      test.each([
        [['worker', 'register', 'w-u', '10.0.0.1']],
        [['worker', 'list']],
        [['worker', 'show', 'w-u']],
        [['worker', 'unregister', 'w-u']],
        [['worker', 'token', 'w-u']],
        [['db', 'init']],
      ] as const)('%j: exit 1, one line naming the host, never the password', async (argv) => {
        const envs: Record<string, string>[] = [
          { MONGODB_HOST: `127.0.0.1:${port}`, MONGODB_USERNAME: 'admin', MONGODB_PASSWORD: PASSWORD },
          { MONGODB_URI: `mongodb://admin:${encodeURIComponent(URI_PASSWORD)}@127.0.0.1:${port}/` },
        ];
        for (const dbEnv of envs) {
          const r = await cli(argv, dbEnv, fast);
          const ok = r.code === 1 && r.stdout === '' && errorLine('DATABASE_UNAVAILABLE').test(r.stderr) && r.stderr.includes(`127.0.0.1:${port}`);
          collector.record(AREA, `${argv.join(' ')} with an unreachable database`, ok, 'refusal', r.stderr);
          expect(r.code, r.stderr).toBe(1);
          expect(r.stdout).toBe('');
          expect(r.stderr).toMatch(errorLine('DATABASE_UNAVAILABLE'));
          expect(r.stderr).toContain(`127.0.0.1:${port}`);
        }
      });

      test.each([
        ['a URI without a host', { MONGODB_URI: `mongodb://admin:${encodeURIComponent(PASSWORD)}@/` }],
        ['a URI with a bad port', { MONGODB_URI: `mongodb://admin:${encodeURIComponent(PASSWORD)}@127.0.0.1:99999x/` }],
        ['a URI of another scheme', { MONGODB_URI: `http://admin:${encodeURIComponent(PASSWORD)}@127.0.0.1/` }],
        ['a password without a user', { MONGODB_HOST: '127.0.0.1:1', MONGODB_PASSWORD: PASSWORD }],
        ['a database name with a dollar', { MONGODB_URI: 'mongodb://127.0.0.1:1/', MONGODB_DATABASE: 'cluster$db' }],
      ] as const)('%s: exit 2, one line, never the password', async (_what, dbEnv) => {
        const r = await cli(['worker', 'list'], dbEnv, fast);
        collector.record(AREA, `invalid database settings: ${_what}`, r.code === 2 && r.stdout === '', 'refusal', r.stderr);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stdout).toBe('');
        expect(r.stderr).toMatch(/^cluster-master: error \[[A-Z_]+\]: [^\n]+\n$/);
      });

      test('serve with an unreachable database stays up, answers 503 and admits no one', { timeout: 20_000 }, async () => {
        if (d3 === undefined) throw new Error('d3 did not start');
        await d3.waitLog((l) => /registry not loaded/.test(l.msg), 'registry not loaded warning');
        await d3.waitLog((l) => /database error/.test(l.msg), 'database error');
        const ready = await fetch(`http://127.0.0.1:${d3.port}/readyz`);
        expect(ready.status).toBe(503);
        const refused = await rawExchange(d3.port, upgradeRequest({ workerId: 'w-u', token: 'z'.repeat(43) }), { deadlineMs: 5_000 });
        collector.record(AREA, 'serve with an unreachable database refuses agents (503)', refused.status === 503, 'refusal');
        expect(refused.status).toBe(503);
        expect(d3.alive()).toBe(true);
      });
    });

    test('the spawned CLI: real exit codes, one line each', { timeout: 20_000 }, async () => {
      for (const { name, run, check } of await spawnedRuns) {
        collector.record(AREA, name, check(run), 'refusal', run.stderr);
        expect(check(run), `${name}: exit ${run.code}, stdout ${JSON.stringify(run.stdout.slice(0, 100))}, stderr ${JSON.stringify(run.stderr)}`).toBe(true);
      }
    });
  });
}
