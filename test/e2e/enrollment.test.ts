import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { cleanEnv } from '../cli/run-cli.js';
import { AGENT_MAIN, FAKE_SPECS, agentUrl, masterCli, startMaster, type DbTarget, type MasterProc } from './support/cluster.js';
import { ProcSet, spawnProc, type Proc } from './support/processes.js';

/**
 * Enrollment with the real cluster-master and 10 real cluster-agent
 * processes on one master: one enrollment token in one file, the same for
 * every agent, gets each its own credential, stored 0600 in its own state
 * directory; restarted with the enrollment token revoked meanwhile, they get
 * in with what they stored. Then every refusal an admin can cause, each with
 * its reason and advice in the agent's log and the registry unchanged.
 */

// Enough to enroll side by side with one file (each its own credential, the token's uses counted
// once each); 20 cost twice the process starts for the same checks.
const AGENTS = 10;
const ids = Array.from({ length: AGENTS }, (_, i) => `rack-${String(i + 1).padStart(2, '0')}`);

let database: TestDatabase;
let target: DbTarget;
let dir: string;
let master: MasterProc;
const procs = new ProcSet();

beforeAll(async () => {
  database = await openTestDatabase('enroll');
  target = { uri: database.uri, database: database.name };
  dir = await mkdtemp(join(tmpdir(), 'enrollment-'));
  master = await startMaster(procs, target, 'master');
});

afterAll(async () => {
  await procs.killAll();
  await database.close();
  await rm(dir, { recursive: true, force: true });
});

async function cli(args: readonly string[]): Promise<string> {
  const result = await masterCli(target, args);
  if (result.code !== 0) throw new Error(`cluster-master ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

async function enrollmentToken(args: readonly string[]): Promise<{ token_id: string; file: string }> {
  const created = JSON.parse(await cli(['enroll', 'create', ...args, '--json'])) as { token_id: string; token: string };
  const file = join(dir, `enroll-${created.token_id}`);
  await writeFile(file, `${created.token}\n`, { mode: 0o600 });
  return { token_id: created.token_id, file };
}

/** The agent with only the master URL and the enrollment token file in its environment, as agent.env on a rack. */
function agent(workerId: string, enrollFile: string, stateDirectory = join(dir, 'state', workerId)): Proc {
  const env = cleanEnv({});
  for (const key of Object.keys(env)) if (key.startsWith('AGENT_') || key === 'LOG_LEVEL' || key === 'STATE_DIRECTORY') delete env[key];
  Object.assign(env, { AGENT_MASTER_URL: agentUrl(master), AGENT_ENROLL_TOKEN_FILE: enrollFile, AGENT_STATE_DIRECTORY: stateDirectory });
  const flags = ['--worker-id', workerId, '--reconnect-base-ms', '100', '--reconnect-cap-ms', '500', '--refused-retry-ms', '60000', '--welcome-timeout-ms', '5000'];
  return procs.add(spawnProc(workerId, process.execPath, [AGENT_MAIN, 'run', ...flags, '--fake-specs', JSON.stringify(FAKE_SPECS)], env));
}

const event = (name: string) => (rec: Record<string, unknown>) => rec.event === name;
const credentials = async (): Promise<{ worker_id: string; token_hash: string }[]> =>
  (await database.db.collection('WORKER_CREDENTIALS').find({}, { projection: { _id: 0, worker_id: 1, token_hash: 1 } }).sort({ worker_id: 1 }).toArray()).map((d) => ({ worker_id: String(d.worker_id), token_hash: String(d.token_hash) }));

describe('enrollment, real processes', () => {
  let batch: { token_id: string; file: string };

  it(`${AGENTS} agents with the same enrollment file enroll and are admitted`, async () => {
    await cli(['worker', 'register', '--from', await writeList(ids.map((id) => `${id} 127.0.0.1`))]);
    batch = await enrollmentToken(['--workers', 'rack-*', '--ttl', '1h']);
    const agents = ids.map((id) => agent(id, batch.file));
    await Promise.all(agents.map((a) => a.waitForRecord('admitted', event('admitted'), { timeoutMs: 60_000 })));
    for (const a of agents) expect(a.records().filter((r) => r.rec.event === 'enrolled')).toHaveLength(1);
    for (const id of ids) {
      const file = join(dir, 'state', id, 'credential');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect((await readFile(file, 'utf8')).trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
    expect((await credentials()).map((c) => c.worker_id)).toEqual(ids);
    // The master's lines come through a pipe, maybe after the agents' admissions: wait for all of them.
    let seen = 0;
    await master.proc.waitForLine(`${AGENTS} enrolled lines`, (l) => l.json?.event === 'enrolled' && ++seen === AGENTS, { timeoutMs: 10_000 });
    expect(master.proc.records().filter((r) => r.rec.event === 'enrolled')).toHaveLength(AGENTS);
    // Each enrollment is also an event in its worker's history (written at the history's next flush).
    const enrolledEvents = async (): Promise<string[]> =>
      (await database.db.collection('WORKER_EVENTS').find({ kind: 'enrolled' }, { projection: { _id: 0, worker_id: 1 } }).toArray()).map((d) => String(d.worker_id)).sort();
    await expect.poll(enrolledEvents, { timeout: 10_000 }).toEqual(ids);
    const list = await cli(['worker', 'list']);
    expect(list.split('\n')[0]).toMatch(/ENROLLED_AT$/);
    const listed = JSON.parse(await cli(['enroll', 'list', '--json'])) as { uses: number }[];
    expect(listed[0]?.uses).toBe(AGENTS);
    await Promise.all(agents.map((a) => a.kill()));
  }, 120_000);

  it('restarted with the enrollment token revoked, they get in with their stored credentials', async () => {
    await cli(['enroll', 'revoke', batch.token_id]);
    const before = await credentials();
    const agents = ids.map((id) => agent(id, batch.file));
    await Promise.all(agents.map((a) => a.waitForRecord('admitted', event('admitted'), { timeoutMs: 60_000 })));
    for (const a of agents) expect(a.records().filter((r) => r.rec.event === 'enrolling')).toEqual([]);
    expect(await credentials()).toEqual(before);
    await Promise.all(agents.map((a) => a.kill()));
  }, 120_000);

  it('refused with a reason and advice, the registry unchanged: revoked, expired, used up, wrong pattern, wrong address, already enrolled', async () => {
    await cli(['worker', 'register', '--from', await writeList(['late-01 127.0.0.1', 'late-02 127.0.0.1', 'late-03 127.0.0.1', 'other-01 127.0.0.1', 'far-01 127.0.0.2'])]);
    const expired = await enrollmentToken(['--ttl', '1s']);
    const expiredAt = performance.now() + 1_000;
    const once = await enrollmentToken(['--uses', '1']);
    const live = await enrollmentToken(['--workers', 'rack-*', 'late-*', 'far-01']);
    // One use of `once` is taken by late-02; late-03 finds it used up.
    const first = agent('late-02', once.file);
    await first.waitForRecord('admitted', event('admitted'), { timeoutMs: 30_000 });
    await first.kill();
    const before = await credentials();
    await new Promise((r) => setTimeout(r, Math.max(0, expiredAt + 100 - performance.now())));
    // rack-01 on a machine without its stored credential (a second machine claiming the id, or a lost disk).
    const elsewhere = join(dir, 'state', 'rack-01-elsewhere');
    const cases: [string, string, number, RegExp, RegExp, string?][] = [
      ['late-01', batch.file, 401, /enrollment token revoked/, /can no longer be used/],
      ['late-01', expired.file, 401, /enrollment token expired/, /can no longer be used/],
      ['late-03', once.file, 401, /used up/, /can no longer be used/],
      ['other-01', live.file, 403, /--workers/, /covers other worker ids/],
      ['far-01', live.file, 403, /source address does not match worker_ip/, /worker update far-01 --ip 127\.0\.0\.1/],
      ['rack-01', live.file, 409, /already has a credential/, /worker token rack-01/, elsewhere],
    ];
    const refused = await Promise.all(
      cases.map(async ([id, file, status, reason, advice, stateDirectory]) => {
        const a = agent(id, file, stateDirectory);
        const { rec } = await a.waitForRecord(`${id} refused`, event('enrollment-refused'), { timeoutMs: 30_000 });
        await a.kill();
        return { id, rec, status, reason, advice };
      }),
    );
    for (const { id, rec, status, reason, advice } of refused) {
      expect({ id, status: rec.status }).toEqual({ id, status });
      expect(String(rec.reason)).toMatch(reason);
      expect(String(rec.advice)).toMatch(advice);
    }
    expect(await credentials()).toEqual(before);
  }, 90_000);
});

let lists = 0;
async function writeList(lines: string[]): Promise<string> {
  lists += 1;
  const file = join(dir, `workers-${lists}.txt`);
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}
