import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseOsRelease, probeHost, readCpuTopology } from './host.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'agent-host-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A sysfs cpu tree: `sockets` packages of `cores` cores of `threads` threads each. */
async function writeTopology(sockets: number, cores: number, threads: number): Promise<void> {
  let cpu = 0;
  for (let t = 0; t < threads; t++) {
    for (let s = 0; s < sockets; s++) {
      for (let c = 0; c < cores; c++) {
        const dir = path.join(root, 'sys/devices/system/cpu', `cpu${cpu++}`, 'topology');
        await mkdir(dir, { recursive: true });
        await writeFile(path.join(dir, 'physical_package_id'), `${s}\n`);
        await writeFile(path.join(dir, 'core_id'), `${c}\n`);
      }
    }
  }
  // Not CPUs: left alone.
  await mkdir(path.join(root, 'sys/devices/system/cpu/cpufreq'), { recursive: true });
}

const cpu = (model: string): os.CpuInfo => ({ model, speed: 0, times: { user: 0, nice: 0, sys: 0, idle: 0, irq: 0 } });

describe('os-release', () => {
  it('NAME and VERSION_ID, quotes removed', () => {
    expect(parseOsRelease('PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nVERSION="22.04.4 LTS (Jammy Jellyfish)"\n')).toEqual({ name: 'Ubuntu', version: '22.04' });
    expect(parseOsRelease("NAME='Debian GNU/Linux'\nVERSION=\"12 (bookworm)\"\n")).toEqual({ name: 'Debian GNU/Linux', version: '12 (bookworm)' });
    expect(parseOsRelease('')).toEqual({ name: null, version: null });
  });
});

describe('CPU topology from sysfs', () => {
  it('2 sockets × 56 cores × 2 threads', async () => {
    await writeTopology(2, 56, 2);
    expect(await readCpuTopology(root)).toEqual({ sockets: 2, physicalCores: 112 });
  });

  it('a Grace-like single socket of 72 cores, one thread each', async () => {
    await writeTopology(1, 72, 1);
    expect(await readCpuTopology(root)).toEqual({ sockets: 1, physicalCores: 72 });
  });

  it('no topology readable: null, not 0', async () => {
    expect(await readCpuTopology(root)).toEqual({ sockets: null, physicalCores: null });
  });
});

describe('probeHost', () => {
  it('reads every field from its sources', async () => {
    await writeTopology(2, 4, 2);
    await mkdir(path.join(root, 'etc'));
    await writeFile(path.join(root, 'etc/os-release'), 'NAME="Rocky Linux"\nVERSION_ID="9.4"\n');
    const host = await probeHost({ root, machine: () => 'x86_64', release: () => '5.14.0-427.el9.x86_64', cpus: () => Array(16).fill(cpu('AMD EPYC 9654 96-Core Processor')) as os.CpuInfo[] });
    expect(host).toEqual({
      cpu_model: 'AMD EPYC 9654 96-Core Processor',
      arch: 'x86_64',
      sockets: 2,
      physical_cores: 8,
      threads: 16,
      os_name: 'Rocky Linux',
      os_version: '9.4',
      kernel: '5.14.0-427.el9.x86_64',
    });
  });

  it('an aarch64 host whose kernel names no CPU model: model null, arch aarch64', async () => {
    const host = await probeHost({ root, machine: () => 'aarch64', release: () => '6.8.0-1013-nvidia-64k', cpus: () => Array(72).fill(cpu('')) as os.CpuInfo[] });
    expect(host).toMatchObject({ cpu_model: null, arch: 'aarch64', threads: 72, sockets: null, os_name: null });
  });
});
