import { readFile } from 'node:fs/promises';
import { HARDWARE_LIMITS, HardwareSchema } from '@cluster/protocol';
import { describe, expect, it } from 'vitest';
import { fakeRun, stdout, type Scripted } from '../test-support/fake-commands.js';
import { writeSysfs } from '../test-support/sysfs.js';
import { realTimers } from '../timers.js';
import { NVIDIA_SMI_ARGS, NVIDIA_SMI_BASE_ARGS, createGpuProbe, parseCudaVersion, parseMigDevices, parseNvidiaSmiCsv, readPciFunctions, type GpuDevice } from './gpu.js';
import type { HostReport } from './host.js';
import { toHardware } from './inventory.js';
import { H100_GPU } from '../../../protocol/src/test-support/h100-sample.js';

const fixture = (name: string) => readFile(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const QUERY = `nvidia-smi ${NVIDIA_SMI_ARGS.join(' ')}`;
const HOST: HostReport = {
  cpu_model: 'Intel(R) Xeon(R) Platinum 8480+',
  arch: 'x86_64',
  sockets: 2,
  physical_cores: 112,
  threads: 224,
  os_name: 'Ubuntu',
  os_version: '22.04',
  kernel: '5.15.0-119-generic',
};

async function inventoryOf(script: Record<string, Scripted>, sysfsFixture?: string, timeoutMs = 5_000) {
  await using sysfs = await writeSysfs(sysfsFixture === undefined ? '' : await fixture(sysfsFixture));
  const probe = createGpuProbe({ run: fakeRun(script), readPci: () => readPciFunctions(sysfs.root), timers: realTimers, timeoutMs });
  const report = await probe();
  const hardware = toHardware(report.devices, HOST, '0.2.0');
  // What the agent sends is always what the master accepts.
  expect(HardwareSchema.safeParse(hardware).success).toBe(true);
  return { report, hardware };
}

describe('nvidia-smi inventory query, per machine', () => {
  it.each([
    ['h100-sxm-x8.inventory.csv', 8, 'NVIDIA H100 80GB HBM3', 81559, '570.124.06', '9.0', 'disabled'],
    ['h200.inventory.csv', 1, 'NVIDIA H200', 143771, '580.65.06', '9.0', 'disabled'],
    ['a100-40gb.inventory.csv', 4, 'NVIDIA A100-SXM4-40GB', 40960, '535.183.01', '8.0', 'disabled'],
    ['a100-80gb.inventory.csv', 2, 'NVIDIA A100 80GB PCIe', 81920, '550.127.05', '8.0', undefined],
    ['l4.inventory.csv', 1, 'NVIDIA L4', 23034, '550.90.07', '8.9', undefined],
    ['gh200.inventory.csv', 1, 'NVIDIA GH200 480GB', 97871, '560.35.03', '9.0', 'disabled'],
  ])('%s: %i × %s, %i MiB, driver %s, compute %s, MIG %s', async (file, count, model, mib, driver, cc, mig) => {
    const gpus = parseNvidiaSmiCsv(await fixture(file));
    expect(gpus).toHaveLength(count);
    for (const g of gpus) {
      expect(g).toMatchObject({ vendor: 'NVIDIA', model, memory_mib: mib, driver_version: driver, compute_capability: cc });
      expect(g.mig_mode).toBe(mig);
      expect(g.uuid).toMatch(/^GPU-/);
      expect(g.bus_id).toMatch(/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/);
    }
  });

  it('GH200: its PCI domain 0009 is kept', async () => {
    const [gpu] = parseNvidiaSmiCsv(await fixture('gh200.inventory.csv'));
    expect(gpu?.bus_id).toBe('0009:01:00.0');
  });

  it('the CUDA version comes from nvidia-smi --version', async () => {
    expect(parseCudaVersion(await fixture('nvidia-smi-version.txt'))).toBe('12.8');
    expect(parseCudaVersion('NVIDIA-SMI version  : 470.256.02\n')).toBeUndefined();
  });
});

describe('the GPU part of the inventory', () => {
  it('8 × H100: every field, the CUDA version on each GPU, no MIG', async () => {
    const { hardware } = await inventoryOf({ [QUERY]: stdout(await fixture('h100-sxm-x8.inventory.csv')), 'nvidia-smi --version': stdout(await fixture('nvidia-smi-version.txt')) }, 'hgx-h100.sysfs.txt');
    expect(hardware.gpus).toHaveLength(8);
    expect(hardware.gpus[0]).toEqual(H100_GPU);
  });

  it('A100 with MIG enabled: its MIG devices from nvidia-smi -L, the other GPU none', async () => {
    const { hardware } = await inventoryOf({
      [QUERY]: stdout(await fixture('a100-mig.inventory.csv')),
      'nvidia-smi --version': stdout(await fixture('nvidia-smi-version.txt')),
      'nvidia-smi -L': stdout(await fixture('a100-mig.nvidia-smi-L.txt')),
    });
    expect(hardware.gpus[0]?.mig_mode).toBe('enabled');
    expect(hardware.gpus[0]?.mig_devices).toEqual([
      { profile: '3g.20gb', uuid: 'MIG-4a6f1c2e-8d3b-5e7a-9f0c-1b2d3e4f5a60', memory_mib: null },
      { profile: '2g.10gb', uuid: 'MIG-5b7a2d3f-9e4c-5f8b-a01d-2c3e4f5a6b71', memory_mib: null },
      { profile: '1g.5gb', uuid: 'MIG-6c8b3e4a-af5d-5a9c-b12e-3d4f5a6b7c82', memory_mib: null },
    ]);
    expect(hardware.gpus[1]).toMatchObject({ mig_mode: 'disabled', mig_devices: null });
  });

  it('parseMigDevices keeps MIG devices under their GPU', async () => {
    const byGpu = parseMigDevices(await fixture('a100-mig.nvidia-smi-L.txt'));
    expect(byGpu.get('GPU-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b')).toHaveLength(3);
    expect(byGpu.get('GPU-1f2e3d4c-5b6a-7988-9aab-1c2d3e4f5a6b')).toEqual([]);
  });

  it('a driver too old for the inventory fields: the counting query answers, the rest is null', async () => {
    const run = fakeRun({
      [QUERY]: { ok: false, reason: 'failed', message: 'Field "compute_cap" is not a valid field to query.' },
      [`nvidia-smi ${NVIDIA_SMI_BASE_ARGS.join(' ')}`]: stdout(await fixture('hgx-h100.nvidia-smi.csv')),
    });
    await using sysfs = await writeSysfs(await fixture('hgx-h100.sysfs.txt'));
    const report = await createGpuProbe({ run, readPci: () => readPciFunctions(sysfs.root), timers: realTimers, timeoutMs: 5_000 })();
    expect(report.total_gpu).toBe(8);
    expect(toHardware(report.devices, HOST, '0.2.0').gpus[0]).toMatchObject({ model: 'NVIDIA H100 80GB HBM3', driver_version: null, compute_capability: null, mig_mode: null });
  });

  it('nvidia-smi hangs: after the deadline the PCI bus answers; models from the ID table, memory and UUID null', async () => {
    const started = performance.now();
    const { report, hardware } = await inventoryOf({ 'nvidia-smi': 'hang' }, 'hgx-h100.sysfs.txt', 100);
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(report.method).toBe('pci-sysfs');
    expect(hardware.gpus).toHaveLength(8);
    expect(hardware.gpus[0]).toEqual({
      vendor: 'NVIDIA',
      model: 'NVIDIA H100 SXM5 80GB',
      memory_mib: null,
      uuid: null,
      pci_bus_id: '0000:18:00.0',
      driver_version: null,
      cuda_driver_version: null,
      compute_capability: null,
      mig_mode: null,
      mig_devices: null,
    });
  });

  it('nvidia-smi missing: the same PCI fallback, without a wait', async () => {
    const { report, hardware } = await inventoryOf({}, 'hgx-h100.sysfs.txt');
    expect(report.method).toBe('pci-sysfs');
    expect(hardware.gpus.map((g) => g.model)).toEqual(Array(8).fill('NVIDIA H100 SXM5 80GB'));
    expect(hardware.gpus.every((g) => g.memory_mib === null)).toBe(true);
  });

  it('AMD MI300X from sysfs: model, and memory from amdgpu\'s mem_info_vram_total', async () => {
    const { hardware } = await inventoryOf({ lspci: stdout(await fixture('mi300x.lspci.txt')) }, 'mi300x.sysfs.txt');
    expect(hardware.gpus.length).toBeGreaterThan(0);
    expect(hardware.gpus[0]).toMatchObject({ vendor: 'AMD', memory_mib: 196592, pci_bus_id: '0000:05:00.0', uuid: null, compute_capability: null });
    expect(hardware.gpus[0]?.model).toMatch(/MI300X/);
  });
});

describe('toHardware keeps within the protocol bounds', () => {
  const gpu = (i: number, model = 'NVIDIA H100 80GB HBM3'): GpuDevice => ({ vendor: 'NVIDIA', model, memory_mib: 81559, bus_id: `0000:${(i % 256).toString(16).padStart(2, '0')}:00.0`, uuid: `GPU-${i}` });

  it('control characters become spaces, long strings are cut', () => {
    const hardware = toHardware([gpu(0, `H100\u001b[31m${'x'.repeat(500)}`)], { ...HOST, kernel: 'a\nb' }, '0.2.0');
    expect(hardware.gpus[0]?.model).toHaveLength(HARDWARE_LIMITS.maxTextLength);
    expect(hardware.gpus[0]?.model).not.toContain('\u001b');
    expect(hardware.host.kernel).toBe('a b');
    expect(HardwareSchema.safeParse(hardware).success).toBe(true);
  });

  it('more GPUs than the bound list the first ones, and the whole stays under the byte limit', () => {
    const hardware = toHardware(Array.from({ length: 100 }, (_, i) => gpu(i, 'm'.repeat(120))), HOST, '0.2.0');
    expect(hardware.gpus.length).toBeLessThanOrEqual(HARDWARE_LIMITS.maxGpus);
    expect(Buffer.byteLength(JSON.stringify(hardware))).toBeLessThanOrEqual(HARDWARE_LIMITS.maxBytes);
    expect(HardwareSchema.safeParse(hardware).success).toBe(true);
  });

  it('the host part: every field, the agent version added', () => {
    expect(toHardware([], HOST, '0.2.0').host).toEqual({ ...HOST, agent_version: '0.2.0' });
    const unknown = { cpu_model: null, arch: null, sockets: null, physical_cores: null, threads: null, os_name: null, os_version: null, kernel: null };
    expect(toHardware([], unknown, '0.2.0').host).toEqual({ ...unknown, agent_version: '0.2.0' });
  });
});
