import type { Hardware } from '@cluster/protocol';
import { Long } from 'mongodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createAdminTokenStore } from '../../packages/master/src/registry/admin-token-store.js';
import { COLLECTIONS } from '../../packages/master/src/registry/collections.js';
import { hardwareDigest, hardwareToBson } from '../../packages/master/src/registry/hardware-document.js';
import { runCli } from '../cli/run-cli.js';
import { openHarness, type Harness, type RunningMaster } from './helpers/harness.js';

/**
 * A mixed fleet (H100 ×8, A100 40GB ×4, a GH200 aarch64 host, an L4, a worker
 * of a version 1 agent with no inventory) as documents in the dev database,
 * read through `/api/workers`, `/api/sd` and `worker list` / `worker show`.
 */
let h: Harness;
let m: RunningMaster;
let token: string;
let env: Record<string, string>;

const host = (arch: string, cpu: string): Hardware['host'] => ({ cpu_model: cpu, arch, sockets: 2, physical_cores: 64, threads: 128, os_name: 'Ubuntu', os_version: '22.04', kernel: '6.8.0', agent_version: '0.2.0' });
const gpus = (n: number, model: string, mib: number): Hardware['gpus'] =>
  Array.from({ length: n }, (_, i) => ({ vendor: 'NVIDIA', model, memory_mib: mib, uuid: `GPU-${model.length}-${i}`, pci_bus_id: `0000:${(16 + i).toString(16)}:00.0`, driver_version: '570.124.06', cuda_driver_version: '12.8', compute_capability: '9.0', mig_mode: 'disabled', mig_devices: null }));

const FLEET: Record<string, Hardware | undefined> = {
  'h100-01': { gpus: gpus(8, 'NVIDIA H100 80GB HBM3', 81559), host: host('x86_64', 'Intel(R) Xeon(R) Platinum 8480+') },
  'a100-01': { gpus: gpus(4, 'NVIDIA A100-SXM4-40GB', 40960), host: host('x86_64', 'AMD EPYC 7742 64-Core Processor') },
  'gh200-01': { gpus: gpus(1, 'NVIDIA GH200 480GB', 97871), host: host('aarch64', '<script>alert(1)</script>') },
  'l4-01': { gpus: gpus(1, 'NVIDIA L4', 23034), host: host('x86_64', 'Intel(R) Xeon(R) CPU @ 2.20GHz') },
  'old-01': undefined,
};

beforeAll(async () => {
  h = await openHarness();
  const workers = h.db.collection(COLLECTIONS.workers);
  let i = 1;
  for (const [id, hardware] of Object.entries(FLEET)) {
    await h.register(id, `10.0.0.${i++}`);
    const set = hardware === undefined ? {} : { hardware: hardwareToBson(hardware, hardwareDigest(hardware), new Date('2026-12-07T05:00:00Z')) };
    // A heartbeat an hour ahead: the master's sweep leaves these active for the whole file.
    await workers.updateOne({ worker_id: id }, { $set: { ...set, is_active: true, last_heartbeat: Long.fromNumber(Math.floor(Date.now() / 1000) + 3600) } });
  }
  token = (await createAdminTokenStore(h.db).issue()).token;
  m = await h.startMaster();
  env = { MONGODB_URI: h.test.uri, MONGODB_DATABASE: h.test.name };
});
afterAll(async () => {
  await h.close();
});

async function api(path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${m.http}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as unknown) : text };
}
const ids = (body: unknown) => (body as { worker_id: string }[]).map((w) => w.worker_id);

describe('/api/workers', () => {
  test('carries the inventory where there is one', async () => {
    const { body } = await api('/api/workers');
    const list = body as { worker_id: string; hardware?: { gpus: unknown[]; host: { arch: string } } }[];
    expect(list.find((w) => w.worker_id === 'h100-01')?.hardware?.gpus).toHaveLength(8);
    expect(list.find((w) => w.worker_id === 'old-01')).not.toHaveProperty('hardware');
    expect(list.find((w) => w.worker_id === 'gh200-01')?.hardware?.host).toMatchObject({ arch: 'aarch64', cpu_model: '<script>alert(1)</script>' });
  });

  test.each([
    ['gpu-model=h100', ['h100-01']],
    ['gpu-model=A100-SXM4', ['a100-01']],
    ['min-gpu-memory=80', ['gh200-01', 'h100-01']],
    ['min-gpu-memory=40', ['a100-01', 'gh200-01', 'h100-01']],
    ['min-gpu-memory=88', ['gh200-01']],
    ['arch=aarch64', ['gh200-01']],
    ['arch=x86_64&min-gpu-memory=20&gpu-model=nvidia', ['a100-01', 'h100-01', 'l4-01']],
    ['arch=x86_64&gpu-model=gh200', []],
    ['arch=x86_64&min-gpu-memory=24', ['a100-01', 'h100-01', 'l4-01']],
  ])('?%s', async (query, expected) => {
    const { status, body } = await api(`/api/workers?${query}`);
    expect(status).toBe(200);
    expect(ids(body)).toEqual(expected);
  });

  test('a bad value is a 400 naming the parameter', async () => {
    expect(await api('/api/workers?min-gpu-memory=lots')).toEqual({ status: 400, body: expect.stringContaining('min-gpu-memory') as unknown });
  });
});

test('/api/sd labels: gpu_model and arch (absent without an inventory)', async () => {
  const { body } = await api('/api/sd');
  const labels = new Map((body as { labels: Record<string, string> }[]).map((g) => [g.labels.worker_id ?? '', g.labels]));
  expect(labels.get('h100-01')).toMatchObject({ gpu_model: 'NVIDIA H100 80GB HBM3', arch: 'x86_64' });
  expect(labels.get('gh200-01')).toMatchObject({ gpu_model: 'NVIDIA GH200 480GB', arch: 'aarch64' });
  expect(labels.get('old-01')).toBeDefined();
  expect(labels.get('old-01')).not.toHaveProperty('gpu_model');
  expect(labels.get('old-01')).not.toHaveProperty('arch');
});

describe('the CLI', () => {
  test('worker list: a GPU_MODEL column; the filters combine, in --json too', async () => {
    const table = await runCli(['worker', 'list'], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/GPU_MODEL/);
    expect(table.stdout).toMatch(/h100-01 .* 8× H100 80GB HBM3/);
    expect(table.stdout).toMatch(/old-01 .* -\n/);
    const filtered = await runCli(['worker', 'list', '--gpu-model', 'H100', '--min-gpu-memory', '80', '--arch', 'x86_64', '--json'], env);
    expect(filtered.code).toBe(0);
    expect(ids(JSON.parse(filtered.stdout))).toEqual(['h100-01']);
    const none = await runCli(['worker', 'list', '--arch', 'riscv64'], env);
    expect(none.stdout).toBe('No workers match these filters.\n');
  });

  test('worker show prints the inventory', async () => {
    const shown = await runCli(['worker', 'show', 'a100-01'], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/hardware\.host +AMD EPYC 7742 64-Core Processor, x86_64, 2 socket\(s\), 64 cores, 128 threads/);
    expect(shown.stdout).toMatch(/hardware\.gpus\[3\] +NVIDIA NVIDIA A100-SXM4-40GB, 40960 MiB, 0000:13:00\.0, .*driver 570\.124\.06, CUDA 12\.8, compute 9\.0, MIG disabled/);
    const old = await runCli(['worker', 'show', 'old-01'], env);
    expect(old.stdout).not.toContain('hardware');
  });
});
