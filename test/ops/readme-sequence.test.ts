import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cleanEnv } from '../cli/run-cli.js';
import { runToEnd } from '../e2e/support/processes.js';
import { freePort } from '../support/free-port.js';

/**
 * The README's "Everyday commands", typed in order: the block is taken from
 * the README as it is and run line by line in one shell, with a dev database,
 * a port and a token file of this test's own. Between lines the test waits
 * as a person would (until the master answers, until the agent is in), and
 * nothing else is added.
 */

let dir: string;

/** The shell lines of the README's first sh block under `heading`. */
async function readmeBlock(heading: string): Promise<string[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf(heading));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error(`no sh block under "${heading}"`);
  return block.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('#'));
}

/** The shell lines of the README's "Everyday commands" block. */
function everydayCommands(): Promise<string[]> {
  return readmeBlock('## Everyday commands');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'readme-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('README everyday commands', () => {
  it('work when typed in order, each error-free and without pnpm noise', async () => {
    const lines = await everydayCommands();
    const port = await freePort();
    const metrics = `curl -fsS http://127.0.0.1:${port}/metrics`;
    const script = [
      // Job control, as in a terminal: each background job is a process group of its own (pnpm and the daemon under it).
      'set -euo pipefail -m',
      // Whatever happens, the background jobs and the dev database go (`kill %1 %2` in a terminal).
      'trap \'for p in $(jobs -p); do kill -TERM -- "-$p" 2>/dev/null; done; wait 2>/dev/null; bash scripts/devdb.sh stop\' EXIT',
      'wait_for() { for _ in $(seq 1 300); do if eval "$1" >/dev/null 2>&1; then return 0; fi; sleep 0.1; done; echo "gave up waiting for: $1" >&2; return 1; }',
    ];
    for (const line of lines) {
      const typed = line.replaceAll('8080', String(port)).replaceAll('gpu-01.token', join(dir, 'gpu-01.token'));
      script.push(`echo "### ${line.replaceAll('"', '\\"').replaceAll('$', '\\$').replaceAll('`', '\\`')}"`, typed);
      // The pauses a person makes before the next line.
      if (/ serve /.test(line)) script.push(`wait_for 'curl -fsS http://127.0.0.1:${port}/healthz'`);
      if (/cluster-agent run /.test(line)) script.push(`wait_for '${metrics} | grep -q "^cluster_master_connected_agents 1"'`);
      if (/worker token /.test(line)) script.push(`wait_for '${metrics} | grep -q "^cluster_master_admissions_total 2"'`);
    }
    // The agent's slow retry after a refusal keeps its default (about a minute): after `worker token` it must
    // be back within wait_for's 30 s because it noticed the new token in its file, not because it retried anyway.
    const env = cleanEnv({ DEVDB_STATE_DIR: join(dir, 'devdb'), LOG_LEVEL: 'warn' });
    for (const name of Object.keys(env)) if (name.startsWith('AGENT_') || name.startsWith('MASTER_')) delete env[name];
    const result = await runToEnd('bash', ['-c', script.join('\n')], env, 150_000);

    const output = result.stdout;
    expect(result.stderr + output, 'one line each: no pnpm header, no ELIFECYCLE').not.toMatch(/ELIFECYCLE|^> cluster-worker-registry@/m);
    expect(result.code, `${result.stderr}\n${output}`).toBe(0);
    // Each command ran, in order.
    const ran = [...output.matchAll(/^### (.*)$/gm)].map((m) => m[1]);
    expect(ran).toEqual(lines);
    const after = (prefix: string): string => {
      const start = output.indexOf(`### ${prefix}`);
      const end = output.indexOf('\n###', start + 4);
      return output.slice(start, end === -1 ? undefined : end);
    };
    expect(after('pnpm -s cluster-master worker list --active')).toMatch(/^gpu-01 +127\.0\.0\.1 +yes /m);
    expect(after('pnpm -s cluster-master worker show gpu-01')).toContain('gpu-01');
    expect(after('pnpm -s cluster-agent probe')).toMatch(/^total_cpu /m);
  }, 180_000);

  it('the register line typed again (the dev database kept the worker) leaves the token file as it was', async () => {
    const lines = await everydayCommands();
    const pick = (pattern: RegExp): string => {
      const line = lines.find((l) => pattern.test(l));
      if (line === undefined) throw new Error(`no line matching ${String(pattern)} in the README`);
      return line.replaceAll('gpu-01.token', join(dir, 'again.token'));
    };
    const script = [
      'set -uo pipefail',
      "trap 'bash scripts/devdb.sh stop' EXIT",
      pick(/devdb\.sh start/),
      pick(/ db init$/),
      pick(/ worker register /),
      `cp ${join(dir, 'again.token')} ${join(dir, 'first.token')}`,
      'echo "### again"',
      pick(/ worker register /),
      'echo "### status $?"',
    ];
    const env = cleanEnv({ DEVDB_STATE_DIR: join(dir, 'devdb-again') });
    const result = await runToEnd('bash', ['-c', script.join('\n')], env, 60_000);
    const first = await readFile(join(dir, 'first.token'), 'utf8');
    expect(first.trim(), result.stderr).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await readFile(join(dir, 'again.token'), 'utf8'), 'the good token is still there').toBe(first);
    expect((await stat(join(dir, 'again.token'))).mode & 0o777).toBe(0o600);
    // The second try says it failed, and what to run instead.
    expect(result.stdout).not.toContain('### status 0');
    expect(result.stderr).toContain('WORKER_ALREADY_REGISTERED');
    expect(result.stderr).toContain('cluster-master worker token gpu-01');
  }, 60_000);

  it('"Watching the fleet": the admin token captured as written lets curl in; without one, the 401 says how to get one', async () => {
    const everyday = await everydayCommands();
    const lines = await readmeBlock('### Watching the fleet');
    const port = await freePort();
    const local = (line: string): string => line.replaceAll('8080', String(port)).replaceAll('admin.token', join(dir, 'admin.token'));
    const script = [
      'set -euo pipefail -m',
      'trap \'for p in $(jobs -p); do kill -TERM -- "-$p" 2>/dev/null; done; wait 2>/dev/null; bash scripts/devdb.sh stop\' EXIT',
      // The everyday commands' first three lines: a database, its collections, a master.
      ...everyday.filter((l) => /devdb\.sh start| db init$| serve /.test(l)).map(local),
      `for _ in $(seq 1 300); do curl -fsS http://127.0.0.1:${port}/healthz >/dev/null 2>&1 && break; sleep 0.1; done`,
    ];
    for (const line of lines) {
      script.push(`echo "### ${line.replaceAll('"', '\\"').replaceAll('$', '\\$').replaceAll('`', '\\`')}"`);
      // --watch and --follow run until Ctrl-C: a person watches a moment, then presses it.
      // (124: it was still running when the time was up; anything else is its own failure.)
      script.push(/--watch|--follow/.test(line) ? `{ timeout -s INT 3 ${local(line)}\n} || [ $? = 124 ]` : local(line));
    }
    script.push('echo "### no token"', `curl -s -w '\\n%{http_code}\\n' http://127.0.0.1:${port}/api/workers`);
    const env = cleanEnv({ DEVDB_STATE_DIR: join(dir, 'devdb-watch'), LOG_LEVEL: 'warn' });
    for (const name of Object.keys(env)) if (name.startsWith('AGENT_') || name.startsWith('MASTER_') || name === 'ADMIN_TOKEN') delete env[name];
    const result = await runToEnd('bash', ['-c', script.join('\n')], env, 90_000);
    expect(result.code, `${result.stderr}\n${result.stdout}`).toBe(0);
    const output = result.stdout;
    const after = (prefix: string): string => {
      const start = output.indexOf(`### ${prefix}`);
      const end = output.indexOf('\n###', start + 4);
      return output.slice(start, end === -1 ? undefined : end);
    };
    expect((await stat(join(dir, 'admin.token'))).mode & 0o777).toBe(0o600);
    // The curl line answered the API's JSON (an empty fleet), not 401.
    expect(after('curl ')).toMatch(/^\[\]$/m);
    const refused = after('no token');
    expect(refused).toMatch(/\n401\n?$/);
    expect(refused).toContain('Authorization: Bearer');
    expect(refused).toContain('cluster-master admin token');
  }, 120_000);

  it('the token files the README writes at the repository root are ignored by git, never one `git add -A` from a commit', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const written = [...new Set([...readme.matchAll(/--token-file ([\w.-]+\.token)\b/g)].map((m) => m[1] ?? ''))];
    expect(written).toEqual(expect.arrayContaining(['gpu-01.token', 'admin.token']));
    const result = await runToEnd('git', ['check-ignore', '--no-index', '-v', ...written], process.env, 10_000);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(written.length);
  });
});
