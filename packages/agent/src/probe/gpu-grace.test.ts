import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { fakeRun, stdout } from '../test-support/fake-commands.js';
import { writeSysfs } from '../test-support/sysfs.js';
import { realTimers } from '../timers.js';
import { createGpuProbe, readPciFunctions } from './gpu.js';

// The PCI fallback on an aarch64 GH200 host: Grace puts each root complex in a
// PCI domain of its own (the GPU at 0009:01:00.0, the BMC's display behind a
// bridge in 0004), where x86-64 servers have nearly everything in 0000.

const fixture = (name: string) => readFile(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

async function probeGrace(withLspci: boolean) {
  await using sysfs = await writeSysfs(await fixture('grace-gh200.sysfs.txt'));
  // Commands not scripted are 'not installed': here nvidia-smi, and lspci unless given.
  const run = fakeRun(withLspci ? { lspci: stdout(await fixture('grace-gh200.lspci.txt')) } : {});
  return createGpuProbe({ run, readPci: () => readPciFunctions(sysfs.root), timers: realTimers, timeoutMs: 5_000 })();
}

describe('GPU probe on GH200 without nvidia-smi (PCI bus)', () => {
  it('counts the Hopper GPU in domain 0009, not the ASPEED display of domain 0004', async () => {
    const report = await probeGrace(true);
    expect(report).toMatchObject({ total_gpu: 1, method: 'pci-sysfs', warnings: [] });
    expect(report.devices).toEqual([{ vendor: 'NVIDIA', model: 'NVIDIA Corporation GH100 [GH200 120GB / 480GB]', memory_mib: null, bus_id: '0009:01:00.0' }]);
    expect(report.excluded).toEqual([{ bus_id: '0004:02:00.0', model: 'ASPEED Technology, Inc. ASPEED Graphics Family', why: 'ASPEED BMC display adapter' }]);
  });

  it('without lspci (a minimal image) the GPU is named from the id table', async () => {
    const report = await probeGrace(false);
    expect(report.total_gpu).toBe(1);
    expect(report.devices[0]?.model).toBe('NVIDIA GH200 120GB / 480GB');
  });
});
