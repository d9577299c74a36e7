import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeRun, stdout, type Scripted } from '../test-support/fake-commands.js';
import { writeSysfs } from '../test-support/sysfs.js';
import { realTimers } from '../timers.js';
import {
  classifyPciFunction,
  createGpuProbe,
  normalizeBusId,
  parseLspciNames,
  parseNvidiaSmiCsv,
  readPciFunctions,
  NVIDIA_SMI_ARGS,
} from './gpu.js';

const fixture = (name: string) => readFile(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

async function probeWith(sysfsFixture: string, script: Record<string, Scripted>, timeoutMs = 5_000) {
  await using sysfs = await writeSysfs(await fixture(sysfsFixture));
  const run = fakeRun(script);
  const probe = createGpuProbe({ run, readPci: () => readPciFunctions(sysfs.root), timers: realTimers, timeoutMs });
  return { report: await probe(), run };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('parseNvidiaSmiCsv', () => {
  it('reads the 8 GPUs of an HGX H100 host', async () => {
    const gpus = parseNvidiaSmiCsv(await fixture('hgx-h100.nvidia-smi.csv'));
    expect(gpus).toHaveLength(8);
    expect(gpus[0]).toEqual({
      vendor: 'NVIDIA',
      model: 'NVIDIA H100 80GB HBM3',
      memory_mib: 81559,
      bus_id: '0000:18:00.0',
      uuid: 'GPU-3f1c7a9e-5b0d-4c11-9a8e-0a1b2c3d4e01',
    });
    expect(gpus.map((g) => g.bus_id)).toContain('0000:db:00.0');
  });

  it('reads the one GPU of the H200 VM exactly as recorded', async () => {
    expect(parseNvidiaSmiCsv(await fixture('h200-vm.nvidia-smi.csv'))).toEqual([
      {
        vendor: 'NVIDIA',
        model: 'NVIDIA H200',
        memory_mib: 143771,
        bus_id: '0000:00:06.0',
        uuid: 'GPU-23aa5b80-b04a-8f32-fa95-7baa3620177d',
      },
    ]);
  });

  it('skips lines that are not GPUs and keeps unknown memory as null', () => {
    const text = 'No devices were found\n0, Tesla T4, 00000000:3B:00.0, [N/A], GPU-1\n\n';
    expect(parseNvidiaSmiCsv(text)).toEqual([{ vendor: 'NVIDIA', model: 'Tesla T4', memory_mib: null, bus_id: '0000:3b:00.0', uuid: 'GPU-1' }]);
  });

  it('normalises bus ids to the sysfs form', () => {
    expect(normalizeBusId('00000000:AB:00.0')).toBe('0000:ab:00.0');
    expect(normalizeBusId('0000:ab:00.0')).toBe('0000:ab:00.0');
  });
});

describe('classifyPciFunction', () => {
  const fn = (vendorId: number, deviceId: number, classCode = 0x030000) => ({ address: '0000:01:00.0', classCode, vendorId, deviceId, vramBytes: null });
  it.each([
    [fn(0x1a03, 0x2000), 'ASPEED BMC display adapter'],
    [fn(0x102b, 0x0536), 'Matrox display adapter (BMC / server VGA)'],
    [fn(0x1234, 0x1111), 'QEMU/Bochs virtual VGA'],
    [fn(0x1af4, 0x1050), 'virtio virtual GPU'],
    [fn(0x15ad, 0x0405), 'VMware virtual SVGA'],
    [fn(0x1013, 0x00b8), 'Cirrus Logic virtual VGA'],
    [fn(0x8086, 0x3e92), 'Intel integrated graphics'],
    [fn(0x1002, 0x164e), 'AMD integrated graphics (APU)'],
    [fn(0x1d0f, 0x1111), 'display adapter of vendor 1d0f, neither NVIDIA nor AMD'],
  ])('never counts %j', (f, why) => {
    expect(classifyPciFunction(f)).toEqual({ counted: false, why });
  });
  it('counts NVIDIA and AMD compute GPUs', () => {
    expect(classifyPciFunction(fn(0x10de, 0x2330, 0x030200))).toEqual({ counted: true, vendor: 'NVIDIA' });
    expect(classifyPciFunction(fn(0x1002, 0x74a1, 0x120000))).toEqual({ counted: true, vendor: 'AMD' });
    expect(classifyPciFunction(fn(0x1002, 0x744c))).toEqual({ counted: true, vendor: 'AMD' });
  });
});

describe('parseLspciNames', () => {
  it('names functions by address', async () => {
    const names = parseLspciNames(await fixture('mi300x.lspci.txt'));
    expect(names.get('0000:05:00.0')).toBe('Advanced Micro Devices, Inc. [AMD/ATI] Aqua Vanjaram [Instinct MI300X]');
    expect(names.get('0000:06:00.0')).toBe('ASPEED Technology, Inc. ASPEED Graphics Family');
  });
});

describe('GPU probe on recorded hosts', () => {
  it('8-GPU NVIDIA HGX host: nvidia-smi counts 8; NVSwitches and the ASPEED BMC are not GPUs', async () => {
    const { report, run } = await probeWith('hgx-h100.sysfs.txt', { 'nvidia-smi': stdout(await fixture('hgx-h100.nvidia-smi.csv')) });
    expect(report.total_gpu).toBe(8);
    expect(report.method).toBe('nvidia-smi');
    expect(report.warnings).toEqual([]);
    expect(report.devices.every((d) => d.model === 'NVIDIA H100 80GB HBM3' && d.memory_mib === 81559)).toBe(true);
    expect(report.excluded).toEqual([{ bus_id: '0000:02:00.0', model: 'PCI device 1a03:2000', why: 'ASPEED BMC display adapter' }]);
    expect(run.calls[0]).toBe(`nvidia-smi ${NVIDIA_SMI_ARGS.join(' ')}`);
  });

  it('H200 VM (recorded 2026-11-27): nvidia-smi counts its one GPU, nothing excluded, no warnings', async () => {
    const { report, run } = await probeWith('h200-vm.sysfs.txt', { 'nvidia-smi': stdout(await fixture('h200-vm.nvidia-smi.csv')) });
    expect(report).toEqual({
      total_gpu: 1,
      method: 'nvidia-smi',
      devices: [
        {
          vendor: 'NVIDIA',
          model: 'NVIDIA H200',
          memory_mib: 143771,
          bus_id: '0000:00:06.0',
          uuid: 'GPU-23aa5b80-b04a-8f32-fa95-7baa3620177d',
        },
      ],
      excluded: [],
      warnings: [],
    });
    // The inventory's query, then the driver's CUDA version (no MIG: no `nvidia-smi -L`).
    expect(run.calls).toEqual([`nvidia-smi ${NVIDIA_SMI_ARGS.join(' ')}`, 'nvidia-smi --version']);
  });

  it('H200 VM without nvidia-smi or lspci: the PCI bus counts 1, named from the built-in table', async () => {
    const { report, run } = await probeWith('h200-vm.sysfs.txt', {}); // both "not installed", as with nvidia-smi off the PATH
    expect(report).toEqual({
      total_gpu: 1,
      method: 'pci-sysfs',
      devices: [{ vendor: 'NVIDIA', model: 'NVIDIA H200 SXM 141GB', memory_mib: null, bus_id: '0000:00:06.0' }],
      excluded: [],
      warnings: [],
    });
    expect(run.calls).toEqual([`nvidia-smi ${NVIDIA_SMI_ARGS.join(' ')}`, 'lspci -D -nn']);
  });

  it('H200 VM whose nvidia-smi fails: still 1 GPU from the PCI bus, with a warning', async () => {
    const { report } = await probeWith('h200-vm.sysfs.txt', {
      'nvidia-smi': { ok: false, reason: 'failed', message: "nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver" },
    });
    expect(report).toMatchObject({ total_gpu: 1, method: 'pci-sysfs', excluded: [] });
    expect(report.devices).toEqual([{ vendor: 'NVIDIA', model: 'NVIDIA H200 SXM 141GB', memory_mib: null, bus_id: '0000:00:06.0' }]);
    expect(report.warnings).toEqual([expect.stringContaining("couldn't communicate with the NVIDIA driver")]);
  });

  it('server whose only display adapter is an ASPEED BMC: 0 GPUs, said why', async () => {
    const { report } = await probeWith('aspeed-only.sysfs.txt', { lspci: stdout(await fixture('aspeed-only.lspci.txt')) });
    expect(report.total_gpu).toBe(0);
    expect(report.method).toBe('pci-sysfs');
    expect(report.warnings).toEqual([]); // no nvidia-smi is normal, not a warning
    expect(report.excluded).toEqual([
      { bus_id: '0000:03:00.0', model: 'ASPEED Technology, Inc. ASPEED Graphics Family', why: 'ASPEED BMC display adapter' },
    ]);
  });

  it('AMD Instinct MI300X host: 8 processing accelerators from the PCI bus, with memory from amdgpu', async () => {
    const { report } = await probeWith('mi300x.sysfs.txt', { lspci: stdout(await fixture('mi300x.lspci.txt')) });
    expect(report.total_gpu).toBe(8);
    expect(report.method).toBe('pci-sysfs');
    expect(report.devices[0]).toEqual({
      vendor: 'AMD',
      model: 'Advanced Micro Devices, Inc. [AMD/ATI] Aqua Vanjaram [Instinct MI300X]',
      memory_mib: 196592,
      bus_id: '0000:05:00.0',
    });
    expect(report.excluded.map((x) => x.why)).toEqual(['ASPEED BMC display adapter']);
  });

  it('names GPUs from a built-in table when lspci is not installed', async () => {
    const { report } = await probeWith('mi300x.sysfs.txt', {});
    expect(report.devices[0]?.model).toBe('AMD Instinct MI300X');
  });

  it('workstation with an AMD APU and a Radeon: the integrated GPU is not counted', async () => {
    const { report } = await probeWith('workstation-apu.sysfs.txt', {});
    expect(report.total_gpu).toBe(1);
    expect(report.devices.map((d) => d.bus_id)).toEqual(['0000:03:00.0']);
    expect(report.excluded).toEqual([{ bus_id: '0000:0e:00.0', model: 'PCI device 1002:164e', why: 'AMD integrated graphics (APU)' }]);
  });

  it('virtual machine with QEMU, virtio, VMware, Cirrus, QXL, Matrox and Intel adapters: 0 GPUs', async () => {
    const { report } = await probeWith('vm-virtual-vga.sysfs.txt', {});
    expect(report.total_gpu).toBe(0);
    expect(report.excluded).toHaveLength(7);
  });

  it('nvidia-smi that fails (driver not loaded): counted from the PCI bus, with a warning', async () => {
    const { report } = await probeWith('hgx-h100.sysfs.txt', {
      'nvidia-smi': { ok: false, reason: 'failed', message: "nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver" },
    });
    expect(report.total_gpu).toBe(8);
    expect(report.method).toBe('pci-sysfs');
    expect(report.warnings).toEqual([expect.stringContaining("couldn't communicate with the NVIDIA driver")]);
  });

  it('nvidia-smi that sees fewer GPUs than the bus: counts what nvidia-smi sees and warns', async () => {
    const seven = (await fixture('hgx-h100.nvidia-smi.csv')).split('\n').slice(0, 7).join('\n');
    const { report } = await probeWith('hgx-h100.sysfs.txt', { 'nvidia-smi': stdout(seven) });
    expect(report.total_gpu).toBe(7);
    expect(report.warnings).toEqual(['the PCI bus shows 8 NVIDIA GPUs but nvidia-smi sees 7; counted what nvidia-smi sees']);
  });

  it('counts AMD GPUs beside NVIDIA ones on a mixed host', async () => {
    await using sysfs = await writeSysfs('0000:01:00.0 0x030200 0x10de 0x20b2\n0000:02:00.0 0x038000 0x1002 0x740f\n');
    const run = fakeRun({ 'nvidia-smi': stdout('0, NVIDIA A100-SXM4-80GB, 00000000:01:00.0, 81920, GPU-a\n') });
    const report = await createGpuProbe({ run, readPci: () => readPciFunctions(sysfs.root), timers: realTimers, timeoutMs: 5_000 })();
    expect(report.total_gpu).toBe(2);
    expect(report.method).toBe('nvidia-smi+pci-sysfs');
  });

  it('host without a PCI bus in sysfs: 0 GPUs, no warning', async () => {
    const report = await createGpuProbe({
      run: fakeRun({}),
      readPci: () => readPciFunctions('/nonexistent/sys/bus/pci/devices'),
      timers: realTimers,
      timeoutMs: 5_000,
    })();
    expect(report).toMatchObject({ total_gpu: 0, warnings: [] });
  });
});

describe('a hung nvidia-smi', () => {
  it('is given up on after the timeout; the PCI bus counts the GPUs, with a warning, and no second one is started', async () => {
    await using sysfs = await writeSysfs(await fixture('hgx-h100.sysfs.txt'));
    const bus = await readPciFunctions(sysfs.root);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const run = fakeRun({ 'nvidia-smi': 'hang' });
    const probe = createGpuProbe({ run, readPci: () => Promise.resolve(bus), timers: realTimers, timeoutMs: 5_000 });

    let settled = false;
    const pending = probe().finally(() => (settled = true));
    await vi.advanceTimersByTimeAsync(4_999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const report = await pending;
    expect(report).toMatchObject({ total_gpu: 8, method: 'pci-sysfs' });
    expect(report.warnings).toEqual(['nvidia-smi did not answer within 5000 ms; GPUs counted from the PCI bus instead']);

    // The next probe does not pile a second hung child on the first.
    const again = await probe();
    expect(again.total_gpu).toBe(8);
    expect(again.warnings[0]).toContain('still hung');
    expect(run.calls.filter((c) => c.startsWith('nvidia-smi'))).toHaveLength(1);
  });
});
