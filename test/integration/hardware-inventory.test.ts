import { readFile } from 'node:fs/promises';
import { HardwareSchema, type Hardware } from '@cluster/protocol';
import type { Document } from 'mongodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createAgent, type Agent } from '../../packages/agent/src/agent.js';
import { createLogger } from '../../packages/agent/src/logger.js';
import { NVIDIA_SMI_ARGS } from '../../packages/agent/src/probe/gpu.js';
import { createProbe } from '../../packages/agent/src/probe/index.js';
import { fakeRun, stdout } from '../../packages/agent/src/test-support/fake-commands.js';
import { COLLECTIONS } from '../../packages/master/src/registry/collections.js';
import { toWorker } from '../../packages/master/src/registry/document.js';
import { openHarness, waitFor, type Harness, type RunningMaster } from './helpers/harness.js';
import { RawAgent } from './helpers/raw-agent.js';
import { H100_GPU } from '../../packages/protocol/src/test-support/h100-sample.js';

/**
 * The inventory path end to end: a real agent (its probe behind recorded
 * nvidia-smi answers) reports its hardware, the master writes it into the
 * worker's document, a changed re-probe rewrites it, and reconnects of an
 * unchanged agent (to the same master, and to a restarted one that reads the
 * view from the database) write no inventory at all, counted with the
 * driver's command monitoring of the master's own client.
 */
const fixture = (name: string) => readFile(new URL(`../../packages/agent/src/probe/fixtures/${name}`, import.meta.url), 'utf8');
const QUERY = `nvidia-smi ${NVIDIA_SMI_ARGS.join(' ')}`;

let h: Harness;
let token: string;
let smiAnswer: string;

beforeAll(async () => {
  h = await openHarness();
  token = await h.register('inv-1');
  await h.register('inv-raw');
  smiAnswer = await fixture('h100-sxm-x8.inventory.csv');
});
afterAll(async () => {
  await h.close();
});

function agentFor(m: RunningMaster, reprobeIntervalMs = 60_000): Agent {
  const run = fakeRun({
    // Read at each probe, so a test changes what the "driver" says.
    [QUERY]: () => Promise.resolve(stdout(smiAnswer)),
    'nvidia-smi --version': stdout('CUDA Version        : 12.8\n'),
  });
  return createAgent({
    masterUrl: `${m.url}/agent`,
    workerId: 'inv-1',
    token,
    agentVersion: '0.2.0-test',
    probe: createProbe({
      run,
      readPci: () => Promise.resolve([]),
      memoryBytes: () => Promise.resolve(2 ** 40),
      host: { root: '/nonexistent-host-root', machine: () => 'x86_64', release: () => '5.15.0-119-generic' },
    }),
    logger: createLogger({ level: 'silent' }),
    reprobeIntervalMs,
    reconnectBaseMs: 50,
    reconnectCapMs: 200,
    welcomeTimeoutMs: 2_000,
  });
}

async function document(workerId: string): Promise<Document | null> {
  return h.db.collection(COLLECTIONS.workers).findOne({ worker_id: workerId });
}

describe('the hardware inventory in WORKER_REGISTRY', () => {
  test('arrives, is rewritten when a re-probe finds a change, and an unchanged reconnect writes none', async () => {
    const m = await h.startMaster();
    const mark = m.commands.mark();
    let agent = agentFor(m, 300);
    await agent.start();

    // 1. It arrives, next to the ten contract fields, which keep their types.
    const doc = await waitFor('inventory written', async () => {
      const d = await document('inv-1');
      return d?.hardware !== undefined ? d : undefined;
    });
    const hardware = doc.hardware as { gpus: Document[]; host: Document; digest: string; reported_at: unknown };
    expect(hardware.gpus).toHaveLength(8);
    expect(hardware.gpus[0]).toMatchObject(H100_GPU);
    expect(hardware.host).toMatchObject({ arch: 'x86_64', kernel: '5.15.0-119-generic', agent_version: '0.2.0-test', sockets: null });
    expect(hardware.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(hardware.reported_at).toBeInstanceOf(Date);
    expect(HardwareSchema.safeParse({ gpus: hardware.gpus, host: hardware.host }).success).toBe(true);
    expect(toWorker(doc)).toMatchObject({ worker_id: 'inv-1', total_gpu: 8, is_active: true });
    expect(m.commands.count(mark, 'update', 'hardware')).toBe(1);

    // Re-probes of an unchanged machine and heartbeats write no inventory.
    const steady = m.commands.mark();
    await waitFor('heartbeats written', () => m.commands.count(steady, 'update', 'heartbeat') >= 3 || undefined);
    expect(m.commands.count(steady, 'update', 'hardware')).toBe(0);

    // 2. A driver update: the re-probe sends it, the master rewrites the inventory (once).
    const beforeChange = m.commands.mark();
    smiAnswer = smiAnswer.replaceAll('570.124.06', '575.51.03');
    await waitFor('changed inventory written', async () => {
      const d = await document('inv-1');
      return (d?.hardware as { gpus: Document[] } | undefined)?.gpus[0]?.driver_version === '575.51.03' || undefined;
    });
    const changedDigest = ((await document('inv-1'))?.hardware as { digest: string }).digest;
    expect(changedDigest).not.toBe(hardware.digest);
    await waitFor('a few heartbeats more', () => m.commands.count(beforeChange, 'update', 'heartbeat') >= 4 || undefined);
    expect(m.commands.count(beforeChange, 'update', 'hardware')).toBe(1);
    await agent.close();

    // 3. An unchanged reconnect to the same master: no inventory write.
    const reconnect = m.commands.mark();
    agent = agentFor(m);
    await agent.start();
    await waitFor('reconnected and beating', () => m.commands.count(reconnect, 'update', 'heartbeat') >= 3 || undefined);
    expect(m.commands.count(reconnect, 'update', 'hardware')).toBe(0);
    await agent.close();
    await m.close();

    // 4. A restarted master (its view read from the database, digest included): still none.
    const m2 = await h.startMaster();
    const restart = m2.commands.mark();
    agent = agentFor(m2);
    await agent.start();
    await waitFor('reconnected to the new master', () => m2.commands.count(restart, 'update', 'heartbeat') >= 3 || undefined);
    expect(m2.commands.count(restart, 'update', 'hardware')).toBe(0);
    expect(((await document('inv-1'))?.hardware as { digest: string }).digest).toBe(changedDigest);
    await agent.close();
  });

  test('an inventory over its bounds: the hello is refused 4400 with the field named, the document unchanged', async () => {
    const m = await h.startMaster();
    const before = await document('inv-raw');
    const rawToken = await h.credentials.issue('inv-raw');
    const raw = await RawAgent.open(m.url, { workerId: 'inv-raw', token: rawToken });
    const host = { cpu_model: null, arch: 'x86_64', sockets: null, physical_cores: null, threads: null, os_name: null, os_version: null, kernel: null, agent_version: 'x' };
    const gpu = { vendor: 'NVIDIA', model: 'x'.repeat(129), memory_mib: 1, uuid: null, pci_bus_id: null, driver_version: null, cuda_driver_version: null, compute_capability: null, mig_mode: null, mig_devices: null };
    const hardware = { gpus: [gpu], host } as unknown as Hardware;
    raw.send({ type: 'hello', protocol_version: 2, worker_id: 'inv-raw', agent_version: 'x', specs: { total_cpu: 1, total_memory: 1, total_storage: 1, total_gpu: 1 }, hardware });
    expect(await raw.closed).toEqual({ code: 4400, reason: 'invalid hardware.gpus.0.model' });
    // Nothing was queued for it: once an agent of protocol version 1 (same specs) is admitted and its
    // heartbeat written, the document holds no inventory and no inventory write was sent.
    const mark = m.commands.mark();
    const v1 = await RawAgent.open(m.url, { workerId: 'inv-raw', token: rawToken, headers: { 'x-protocol-version': '1' } });
    const welcome = v1.next('welcome');
    v1.send({ type: 'hello', protocol_version: 1, worker_id: 'inv-raw', agent_version: 'old', specs: { total_cpu: 0, total_memory: 0, total_storage: 0, total_gpu: 0 } });
    expect(await welcome).toMatchObject({ protocol_version: 1 });
    const after = await waitFor('v1 heartbeat written', async () => {
      const d = await document('inv-raw');
      return d?.is_active === true ? d : undefined;
    });
    expect(after?.hardware).toBeUndefined();
    expect(toWorker(after)).toMatchObject({ total_cpu: 0, total_gpu: 0, is_active: true });
    expect(before?.hardware).toBeUndefined();
    expect(m.commands.count(mark, 'update', 'hardware')).toBe(0);
    await v1.close();
    await m.close();
  });
});
