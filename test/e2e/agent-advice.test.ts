import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { AGENT_MAIN, FAKE_SPECS, masterCli, registerWorker, startMaster, type DbTarget, type MasterProc } from './support/cluster.js';
import { ProcSet, spawnProc, type Proc } from './support/processes.js';
import { cleanEnv } from '../cli/run-cli.js';

/**
 * What an operator reads when the agent is refused or cannot connect, with the
 * real cluster-agent against the real cluster-master: the advice names the
 * real cause, fills in this agent's worker id, is said once, and a token
 * fixed in the token file is picked up at the next retry, without a restart.
 */

const TLS_DIR = 'packages/agent/src/test-support/tls';
const RETRY_MS = 300;

let database: TestDatabase;
let target: DbTarget;
let dir: string;
const procs = new ProcSet();

beforeAll(async () => {
  database = await openTestDatabase('advice');
  target = { uri: database.uri, database: database.name };
  dir = await mkdtemp(join(tmpdir(), 'agent-advice-'));
});

afterEach(async () => {
  await procs.killAll();
});

afterAll(async () => {
  await procs.killAll();
  await database.close();
  await rm(dir, { recursive: true, force: true });
});

/** cluster-agent run with the given flags (token in a file or in AGENT_TOKEN), short retries, JSON logs. */
function agent(name: string, args: readonly string[], token?: string): Proc {
  const env = cleanEnv({});
  for (const key of Object.keys(env)) if (key.startsWith('AGENT_') || key === 'LOG_LEVEL') delete env[key];
  if (token !== undefined) env.AGENT_TOKEN = token;
  const flags = ['--reconnect-base-ms', '100', '--reconnect-cap-ms', '500', '--refused-retry-ms', String(RETRY_MS), '--welcome-timeout-ms', '3000'];
  return procs.add(spawnProc(name, process.execPath, [AGENT_MAIN, 'run', ...flags, '--fake-specs', JSON.stringify(FAKE_SPECS), ...args], env));
}

const event = (name: string) => (rec: Record<string, unknown>) => rec.event === name;

let plainMaster: MasterProc | undefined;
async function master(): Promise<MasterProc> {
  plainMaster ??= await startMaster(procs, target, 'master');
  return plainMaster;
}
afterEach(() => {
  plainMaster = undefined;
});

describe('cluster-agent against a real cluster-master', () => {
  it('a token fixed in the token file is used at the next retry; advice names the worker and the file, once', async () => {
    const m = await master();
    const tokenPath = join(dir, 'adv-tok.token');
    await writeFile(tokenPath, `${await registerWorker(target, 'adv-tok')}\n`, { mode: 0o600 });
    const a = agent('agent', ['--master-url', `ws://127.0.0.1:${m.port}/agent`, '--worker-id', 'adv-tok', '--token-file', tokenPath]);
    await a.waitForRecord('admitted', event('admitted'), { timeoutMs: 15_000 });

    // The admin rotates the token: the session is closed 4401, and the advice says what to do.
    const from = a.lines.length;
    const rotated = await masterCli(target, ['worker', 'token', 'adv-tok', '--json']);
    expect(rotated.code).toBe(0);
    const closed = await a.waitForRecord('4401', (r) => r.event === 'disconnected' && r.code === 4401, { from, timeoutMs: 15_000 });
    const advice = String(closed.rec.advice);
    expect(advice).toContain('`cluster-master worker token adv-tok`');
    expect(advice).toContain(`the token file ${tokenPath}`);
    expect(advice).toContain('checks that file every second while refused and tries again as soon as it changes');
    expect(advice).not.toMatch(/<worker_id>|<[a-z_]+>/);
    // Said once: in its field, not in msg as well (a terminal shows both).
    expect(String(closed.rec.msg)).not.toContain(advice.slice(0, 30));

    // The old token is refused until the file holds the new one; then admitted, same process.
    await a.waitForRecord('refused 401', (r) => r.event === 'refused' && r.status === 401, { from, timeoutMs: 15_000 });
    const newToken = (JSON.parse(rotated.stdout) as { token: string }).token;
    const fixedAt = a.lines.length;
    await writeFile(tokenPath, `${newToken}\n`);
    await a.waitForRecord('admitted again', event('admitted'), { from: fixedAt, timeoutMs: 15_000 });
    expect(a.alive).toBe(true);
    expect(a.lines.map((l) => l.text).join('\n')).not.toContain(newToken);
  });

  it('a wrong URL path is named as such, not as an unregistered worker', async () => {
    const m = await master();
    const token = await registerWorker(target, 'adv-path');
    const a = agent('agent', ['--master-url', `ws://127.0.0.1:${m.port}/wrong`, '--worker-id', 'adv-path'], token);
    const refused = (await a.waitForRecord('refused', event('refused'), { timeoutMs: 15_000 })).rec;
    expect(refused.status).toBe(404);
    expect(String(refused.advice)).toMatch(/^the master serves no agent endpoint at \/wrong: use its agent path in the master URL \(\/agent/);
    expect(String(refused.advice)).not.toContain('not registered');
  });

  it('an unregistered worker is told the register command with its own id and address, and the token command (the master answers both alike)', async () => {
    const m = await master();
    const a = agent('agent', ['--master-url', `ws://127.0.0.1:${m.port}/agent`, '--worker-id', 'adv-nobody'], 'tok_0123456789abcdefghij');
    const refused = (await a.waitForRecord('refused', event('refused'), { timeoutMs: 15_000 })).rec;
    expect(refused.status).toBe(401);
    expect(String(refused.advice)).toMatch(/^the master does not know worker adv-nobody or does not accept this token .*: if adv-nobody is not registered, run `cluster-master worker register adv-nobody 127\.0\.0\.1`.*; if it is, put the worker's current token in .*`cluster-master worker token adv-nobody` on the master issues another/);
    expect(String(refused.msg)).toBe('the master refused this agent (HTTP 401: unknown worker or invalid token)');
  });

  it('in a terminal (pretty logs), the advice is printed once', async () => {
    const m = await master();
    const args = [AGENT_MAIN, 'run', '--master-url', `ws://127.0.0.1:${m.port}/agent`, '--worker-id', 'adv-tty', '--token', 'tok_0123456789abcdefghij', '--refused-retry-ms', '60000', '--fake-specs', `'${JSON.stringify(FAKE_SPECS)}'`];
    const env = cleanEnv({});
    for (const key of Object.keys(env)) if (key.startsWith('AGENT_') || key === 'LOG_LEVEL') delete env[key];
    // util-linux `script` gives the agent a pseudo-terminal, so it logs as it does for a person.
    const tty = procs.add(spawnProc('agent-tty', 'script', ['-qfec', `${process.execPath} ${args.join(' ')}`, '/dev/null'], env));
    await tty.waitForLine('the retry after the refusal', (l) => l.text.includes('next retry in'), { timeoutMs: 15_000 });
    const text = tty.lines.map((l) => l.text).join('\n').replace(new RegExp(String.fromCharCode(27) + '\\[[0-9;]*m', 'g'), '');
    expect(text).toContain('the master refused this agent (HTTP 401: unknown worker or invalid token)');
    expect(text.split('if adv-tty is not registered').length - 1).toBe(1);
  });

  it('wss:// against a plain master says in words that the master does not speak TLS', async () => {
    const m = await master();
    const a = agent('agent', ['--master-url', `wss://127.0.0.1:${m.port}/agent`, '--worker-id', 'adv-tls1', '--ca-file', `${TLS_DIR}/localhost.crt`], 'tok_0123456789abcdefghij');
    // The round's one line (a single master: one try) says why and what to do.
    const failed = (await a.waitForRecord('the round', (r) => r.event === 'retry' && r.tried !== undefined, { timeoutMs: 15_000 })).rec;
    expect(failed.error).toBe(`the master at 127.0.0.1:${m.port} does not speak TLS: it answered this wss:// connection in plain text`);
    expect(String(failed.advice)).toMatch(/^use ws:\/\/ in the master URL/);
    expect(JSON.stringify(failed)).not.toMatch(/SSL routines|ssl3_|openssl/i);
  });

  it('ws:// against a TLS master: the master answers in plain text that it speaks TLS, the agent says use wss://', async () => {
    const m = await startMaster(procs, target, 'tls-master', { extraArgs: ['--tls-cert', `${TLS_DIR}/localhost.crt`, '--tls-key', `${TLS_DIR}/localhost.key`] });
    const a = agent('agent', ['--master-url', `ws://127.0.0.1:${m.port}/agent`, '--worker-id', 'adv-tls2'], 'tok_0123456789abcdefghij');
    const refused = (await a.waitForRecord('refused', event('refused'), { timeoutMs: 15_000 })).rec;
    expect(refused.status).toBe(400);
    expect(refused.advice).toBe(
      `the master at 127.0.0.1:${m.port} speaks TLS and this agent spoke plain text (ws://): use wss:// in the master URL (with --ca-file if its certificate is not publicly trusted)`,
    );
    // And the master's log says it in words too.
    await m.proc.waitForRecord('the TLS mismatch line', (r) => String(r.msg).startsWith('plain HTTP arrived on this TLS (wss://) endpoint'), { timeoutMs: 5_000 });
  });
});
