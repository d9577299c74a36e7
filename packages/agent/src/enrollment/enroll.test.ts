import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS, ENROLLMENT_PROTOCOL_VERSION } from '@cluster/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { captureLogs } from '../test-support/logs.js';
import { startFakeMaster } from '../test-support/fake-master.js';
import { createEnroller } from './enroll.js';

const ENROLL = 'enroll_0123456789abcdefghij';
const ISSUED = 'A'.repeat(43);
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'enroll-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function enrollerFor(url: string, credentialFile: string) {
  const logs = captureLogs();
  const enroller = createEnroller({
    urls: [`${url}${DEFAULTS.agentPath}`],
    workerId: 'gpu-01',
    token: ENROLL,
    tokenFrom: 'AGENT_ENROLL_TOKEN',
    credentialFile,
    logger: createLogger({ level: 'trace', destination: logs.destination }),
    refusedRetryMs: 60_000,
    random: () => 0.5,
  });
  return { enroller, logs };
}

describe('the enrollment client', () => {
  it('sends protocol 3 and the Enroll scheme, stores the credential, then closes 1000', async () => {
    await using master = await startFakeMaster();
    const file = join(dir, 'ok', 'credential');
    const { enroller, logs } = enrollerFor(master.url, file);
    const running = enroller.run();
    const conn = await master.nextConnection();
    expect(conn.req.headers['x-protocol-version']).toBe(String(ENROLLMENT_PROTOCOL_VERSION));
    expect(conn.req.headers.authorization).toBe(`Enroll ${ENROLL}`);
    conn.send({ type: 'enrolled', protocol_version: 3, worker_id: 'gpu-01', token: ISSUED });
    expect(await running).toBe(true);
    expect((await conn.closed).code).toBe(1000);
    expect(await readFile(file, 'utf8')).toBe(`${ISSUED}\n`);
    expect(logs.text()).not.toContain(ENROLL);
    expect(logs.text()).not.toContain(ISSUED);
  });

  it('a master of an older release (426) is reported as "upgrade the master", and close() stops the retries', async () => {
    await using master = await startFakeMaster();
    master.protocolVersions = [1, 2];
    const { enroller, logs } = enrollerFor(master.url, join(dir, 'old', 'credential'));
    const running = enroller.run();
    const refused = await logs.waitFor('enrollment-refused');
    expect(refused).toMatchObject({ status: 426, advice: expect.stringMatching(/release without enrollment .*: upgrade the master/) as string });
    enroller.close();
    expect(await running).toBe(false);
  });

  it('an answer for another worker is not stored', async () => {
    await using master = await startFakeMaster();
    const file = join(dir, 'other', 'credential');
    const { enroller, logs } = enrollerFor(master.url, file);
    const running = enroller.run();
    const conn = await master.nextConnection();
    conn.send({ type: 'enrolled', protocol_version: 3, worker_id: 'gpu-02', token: ISSUED });
    expect((await logs.waitFor('enrollment-failed')).error).toMatch(/another worker/);
    enroller.close();
    expect(await running).toBe(false);
    await expect(readFile(file)).rejects.toThrow();
  });

  it('a master still loading (503 with Retry-After) is asked again after the hint, not at the slow pace of a refusal', async () => {
    await using master = await startFakeMaster();
    master.refuse = { status: 503, reason: 'registry not loaded yet', headers: { 'Retry-After': '1' } };
    const file = join(dir, 'loading', 'credential');
    const { enroller, logs } = enrollerFor(master.url, file);
    const running = enroller.run();
    const waiting = await logs.waitFor('enrollment-waiting');
    // The hint (1 s) spread over one more such period (random 0.5): asked again 1.5 s later, not at the refusal's 60 s.
    expect(waiting).toMatchObject({ status: 503, retry_in_ms: 1_500 });
    expect(logs.text()).not.toContain('enrollment-refused');
    master.refuse = undefined;
    const conn = await master.nextConnection();
    conn.send({ type: 'enrolled', protocol_version: 3, worker_id: 'gpu-01', token: ISSUED });
    expect(await running).toBe(true);
    expect(master.upgrades).toHaveLength(2);
  }, 10_000);

  it('a refusal about this worker (409: it has a credential already) waits for an admin, at the slow pace', async () => {
    await using master = await startFakeMaster();
    master.refuse = { status: 409, reason: 'enrollment: worker gpu-01 already has a credential' };
    const { enroller, logs } = enrollerFor(master.url, join(dir, 'enrolled', 'credential'));
    const running = enroller.run();
    expect(await logs.waitFor('enrollment-refused')).toMatchObject({ status: 409 });
    // Asked once, then asleep for the refusal's 60 s: no second upgrade soon after.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(master.upgrades).toHaveLength(1);
    expect(logs.text()).not.toContain('enrollment-waiting');
    enroller.close();
    expect(await running).toBe(false);
  });
});
