import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type os from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cpuModel, probeCpu } from './cpu.js';

const fixture = (name: string) => readFile(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

/** A sysfs cpu folder from `cpuN package_cpus_list core_cpus_list` lines (fixtures/*.cpu-topology.txt). */
async function writeCpuTopology(lines: string): Promise<{ root: string } & AsyncDisposable> {
  const root = await mkdtemp(join(tmpdir(), 'sysfs-cpu-'));
  for (const line of lines.trim().split('\n')) {
    const [cpu, pkg, core] = line.split(' ');
    if (!cpu || !pkg || !core) throw new Error(`bad topology line: ${line}`);
    await mkdir(join(root, cpu, 'topology'), { recursive: true });
    await writeFile(join(root, cpu, 'topology/package_cpus_list'), `${pkg}\n`);
    await writeFile(join(root, cpu, 'topology/core_cpus_list'), `${core}\n`);
  }
  // Files beside the cpuN folders, as in the real one.
  await writeFile(join(root, 'online'), '0-71\n');
  return { root, [Symbol.asyncDispose]: () => rm(root, { recursive: true, force: true }) };
}

/** What libuv's uv_cpu_info gives on aarch64: the model is the "CPU part" field. */
const graceCpus = (): os.CpuInfo[] =>
  Array.from({ length: 72 }, () => ({ model: '0xd4f', speed: 0, times: { user: 0, nice: 0, sys: 0, idle: 0, irq: 0 } }));

describe('CPU probe on an aarch64 host (Grace, GH200)', () => {
  it('names the Neoverse-V2 cores from the implementer and part ids, not libuv\'s "0xd4f"', async () => {
    await using sysfs = await writeCpuTopology(await fixture('grace-gh200.cpu-topology.txt'));
    const cpuinfo = await fixture('grace-gh200.cpuinfo.txt');
    const cpu = await probeCpu({ cpus: graceCpus, cpuinfo: () => Promise.resolve(cpuinfo), sysfsCpu: sysfs.root });
    expect(cpu).toEqual({ total_cpu: 72, model: 'ARM Neoverse-V2', sockets: 1, cores: 72 });
  });

  it('an unknown aarch64 core keeps its ids; a machine of mixed cores names each', () => {
    const block = (implementer: string, part: string) => `processor\t: 0\nCPU implementer\t: ${implementer}\nCPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: ${part}\nCPU revision\t: 1\n`;
    expect(cpuModel(block('0x41', '0xd99'))).toBe('ARM part 0xd99');
    expect(cpuModel(block('0x99', '0x001'))).toBe('implementer 0x99 part 0x001');
    expect(cpuModel([block('0xc0', '0xac3'), block('0x41', '0xd0c'), block('0xc0', '0xac3')].join('\n'))).toBe('Ampere Ampere-1 + ARM Neoverse-N1');
  });
});

describe('CPU probe on x86-64', () => {
  it('takes "model name"; counts sockets and cores of a 2-socket machine with 2 threads a core', async () => {
    const lines: string[] = [];
    for (let cpu = 0; cpu < 8; cpu++) {
      // Linux numbers the second threads after all first threads: cpu0 and cpu4 share a core.
      const core = `${cpu % 4},${(cpu % 4) + 4}`;
      lines.push(`cpu${cpu} ${cpu % 4 < 2 ? '0-1,4-5' : '2-3,6-7'} ${core}`);
    }
    await using sysfs = await writeCpuTopology(lines.join('\n'));
    const cpuinfo = 'processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n';
    const cpus = () => graceCpus().slice(0, 8);
    expect(await probeCpu({ cpus, cpuinfo: () => Promise.resolve(cpuinfo), sysfsCpu: sysfs.root })).toEqual({
      total_cpu: 8,
      model: 'Intel(R) Xeon(R) Platinum 8480+',
      sockets: 2,
      cores: 4,
    });
  });

  it('without /proc/cpuinfo or sysfs: the model os.cpus() gives, sockets and cores unknown', async () => {
    const cpus = () => [{ model: 'AMD EPYC 9654 96-Core Processor', speed: 0, times: { user: 0, nice: 0, sys: 0, idle: 0, irq: 0 } }];
    const cpu = await probeCpu({ cpus, cpuinfo: () => Promise.reject(new Error('ENOENT')), sysfsCpu: '/nonexistent' });
    expect(cpu).toEqual({ total_cpu: 1, model: 'AMD EPYC 9654 96-Core Processor', sockets: null, cores: null });
  });
});
