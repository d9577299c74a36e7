import { DEFAULTS, HardwareSchema, PROTOCOL_VERSION, type Specs } from '@cluster/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAgent } from '../agent.js';
import { createLogger } from '../logger.js';
import { createFakeProbe } from '../probe/fake.js';
import type { Probe } from '../probe/index.js';
import { startFakeMaster, type FakeMaster } from '../test-support/fake-master.js';
import { captureLogs, type CapturedLogs } from '../test-support/logs.js';
import { ProtocolVersions } from './protocol-fallback.js';

const SPECS: Specs = { total_cpu: 64, total_memory: 503.5, total_storage: 7681.5, total_gpu: 0 };
const HOST = { cpu_model: 'Test CPU', arch: 'x86_64', sockets: 1, physical_cores: 32, threads: 64, os_name: 'Debian GNU/Linux', os_version: '12', kernel: '6.1.0-28-amd64' };

/** The fake probe's report plus host facts: the agent then has an inventory to send. */
function probeWithHost(): Probe {
  const fake = createFakeProbe(SPECS);
  return async () => ({ ...(await fake()), host: HOST });
}

describe('ProtocolVersions', () => {
  it('steps down one version per refusal, per master, and back to the newest after a session or at the bottom', () => {
    const v = new ProtocolVersions();
    expect(v.versionFor('a')).toBe(PROTOCOL_VERSION);
    expect(v.refused('a', 2)).toBe(1);
    expect(v.versionFor('a')).toBe(1);
    expect(v.versionFor('b')).toBe(2);
    v.sessionEnded('a');
    expect(v.versionFor('a')).toBe(2);
    v.refused('a', 2);
    expect(v.refused('a', 1)).toBeUndefined();
    expect(v.versionFor('a')).toBe(2);
  });
});

describe('an agent of this release and a master of the previous one', () => {
  let logs: CapturedLogs;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    logs = captureLogs();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const agentFor = (master: FakeMaster) =>
    createAgent({
      masterUrl: `${master.url}${DEFAULTS.agentPath}`,
      workerId: 'gpu-01',
      token: 'tok_a1b2c3d4e5f6g7h8i9j0',
      agentVersion: '0.2.0-test',
      probe: probeWithHost(),
      logger: createLogger({ level: 'trace', destination: logs.destination }),
      random: () => 0.5,
      now: () => Date.now(),
      welcomeTimeoutMs: 5_000,
    });

  it('refused 426 for version 2: speaks version 1 at once, without the inventory; version 2 again once the master is upgraded', async () => {
    await using master = await startFakeMaster();
    master.protocolVersions = [1];
    await using agent = agentFor(master);
    await agent.start();

    const conn = await master.nextConnection();
    expect(master.upgrades.map((r) => r.headers['x-protocol-version'])).toEqual(['2', '1']);
    const hello = await conn.nextMessage();
    expect(hello).toEqual({ type: 'hello', protocol_version: 1, worker_id: 'gpu-01', agent_version: '0.2.0-test', specs: SPECS });
    conn.welcome(1_000, 3_000);
    await logs.waitFor('admitted');
    expect(logs.events('protocol-fallback')).toMatchObject([{ from: 2, to: 1 }]);
    // The fallback is no refusal to report: no error, no slow retry.
    expect(logs.events('refused')).toEqual([]);

    // The master is upgraded (restarted): the agent's next connection speaks version 2, inventory included.
    const from = logs.mark();
    master.protocolVersions = [1, 2];
    await master.stop();
    await logs.waitFor('disconnected', from);
    await master.resume();
    const retry = await logs.waitFor('retry', from);
    await vi.advanceTimersByTimeAsync(retry.delay_ms as number);
    const upgraded = await master.nextConnection();
    expect(upgraded.req.headers['x-protocol-version']).toBe('2');
    const hello2 = (await upgraded.nextMessage()) as { protocol_version: number; hardware: unknown };
    expect(hello2.protocol_version).toBe(2);
    expect(HardwareSchema.parse(hello2.hardware).host).toEqual({ ...HOST, agent_version: '0.2.0-test' });
  });

  it('a master that speaks neither version: one fallback, then the 426 is reported and retried slowly', async () => {
    await using master = await startFakeMaster();
    master.protocolVersions = [7];
    await using agent = agentFor(master);
    await agent.start();
    const refused = await logs.waitFor('refused');
    expect(refused).toMatchObject({ status: 426 });
    expect(master.upgrades.map((r) => r.headers['x-protocol-version'])).toEqual(['2', '1']);
    expect(logs.events('retry').at(-1)).toMatchObject({ slow: true });
  });
});
