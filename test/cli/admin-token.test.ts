import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHarness, type Harness, type RunningMaster } from '../integration/helpers/harness.js';
import { runCli } from './run-cli.js';

/** `cluster-master admin token` as an admin runs it, and the token it prints opening the master's API. */
let h: Harness;
let m: RunningMaster;
let env: Record<string, string>;

beforeAll(async () => {
  h = await openHarness();
  m = await h.startMaster();
  env = { MONGODB_URI: h.test.uri, MONGODB_DATABASE: h.test.name };
});
afterAll(async () => {
  await h.close();
});

const status = async (token: string): Promise<number> =>
  (await fetch(`${m.http}/api/workers`, { headers: { Authorization: `Bearer ${token}` } })).status;

describe('cluster-master admin token', () => {
  let id = '';
  let token = '';

  it('issues a token, printed once with its id; it opens /api/workers', async () => {
    const result = await runCli(['admin', 'token'], env);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const match = /^New admin token ([0-9a-f]{16})\.\n\nToken: ([A-Za-z0-9_-]{43})\n/.exec(result.stdout);
    expect(match).not.toBeNull();
    [, id = '', token = ''] = match ?? [];
    expect(result.stdout).toContain('shown only this once');
    expect(await status(token)).toBe(200);
  });

  it('--list shows ids and dates, never a token or a hash', async () => {
    const result = await runCli(['admin', 'token', '--list'], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^TOKEN_ID +LABEL +CREATED_AT +REVOKED_AT\\n${id}  -      \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z  -\\n$`));
    const json = await runCli(['admin', 'token', '--list', '--json'], env);
    const listed = JSON.parse(json.stdout) as { token_id: string; label: string | null; created_at: string; revoked_at: string | null }[];
    expect(listed.map((t) => [t.token_id, t.label, Number.isNaN(Date.parse(t.created_at)), t.revoked_at])).toEqual([[id, null, false, null]]);
    expect(result.stdout + json.stdout).not.toContain(token);
    expect(result.stdout + json.stdout).not.toMatch(/[0-9a-f]{64}/);
  });

  it('--revoke ID: the token stops working at once; again: exit 1, one error line', async () => {
    const result = await runCli(['admin', 'token', '--revoke', id], env);
    expect(result).toMatchObject({ code: 0, stdout: `Admin token ${id} revoked.\n`, stderr: '' });
    expect(await status(token)).toBe(401);
    const again = await runCli(['admin', 'token', '--revoke', id], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^cluster-master: error \[ADMIN_TOKEN_NOT_FOUND\]: [^\n]+\n$/);
    const list = await runCli(['admin', 'token', '--list', '--json'], env);
    const listed = JSON.parse(list.stdout) as { token_id: string; revoked_at: string | null }[];
    expect(listed.map((t) => [t.token_id, Number.isNaN(Date.parse(t.revoked_at ?? ''))])).toEqual([[id, false]]);
  });

  it('a malformed id or --list with --revoke: exit 2, USAGE', async () => {
    for (const args of [['--revoke', 'nope'], ['--revoke', '$where'], ['--list', '--revoke', id]]) {
      const result = await runCli(['admin', 'token', ...args], env);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/^cluster-master: error \[USAGE\]: [^\n]+\n$/);
    }
  });

  it('--label says what a token is for; --list tells a Prometheus token from a person\'s', async () => {
    const prometheus = await runCli(['admin', 'token', '--label', 'prometheus', '--json'], env);
    expect(prometheus).toMatchObject({ code: 0, stderr: '' });
    const person = await runCli(['admin', 'token', '--label', 'alice (on-call)'], env);
    expect(person).toMatchObject({ code: 0, stderr: '' });
    expect(person.stdout).toMatch(/^New admin token [0-9a-f]{16} \(alice \(on-call\)\)\.\n/);
    const { token_id: prometheusId } = JSON.parse(prometheus.stdout) as { token_id: string };
    const table = await runCli(['admin', 'token', '--list'], env);
    expect(table.stdout).toMatch(new RegExp(`^${prometheusId}  prometheus +\\d{4}-`, 'm'));
    expect(table.stdout).toMatch(/^[0-9a-f]{16} {2}alice \(on-call\) +\d{4}-/m);
    const json = JSON.parse((await runCli(['admin', 'token', '--list', '--json'], env)).stdout) as { token_id: string; label: string | null }[];
    expect(json.find((t) => t.token_id === prometheusId)?.label).toBe('prometheus');
  });

  it('a label that is empty, too long or more than one line, or one given to --list: exit 2, no token issued', async () => {
    const before = await h.db.collection('ADMIN_TOKENS').countDocuments();
    for (const args of [['--label', ''], ['--label', 'x'.repeat(65)], ['--label', 'two\nlines'], ['--list', '--label', 'x']]) {
      const result = await runCli(['admin', 'token', ...args], env);
      expect(result.code, JSON.stringify(args)).toBe(2);
      expect(result.stderr).toMatch(/^cluster-master: error \[USAGE\]: [^\n]+\n$/);
    }
    expect(await h.db.collection('ADMIN_TOKENS').countDocuments()).toBe(before);
  });
});
