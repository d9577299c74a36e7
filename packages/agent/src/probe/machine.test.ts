import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { probeCpu } from './cpu.js';
import { createProbe } from './index.js';
import { probeMemory } from './memory.js';
import { runCommand, type RunCommand } from './run-command.js';

const run = promisify(execFile);

/** The probe on this machine, against sources it does not use. */
describe('probe on this machine', () => {
  it('counts the online logical CPUs (getconf), at least what nproc may use', async () => {
    const online = Number((await run('getconf', ['_NPROCESSORS_ONLN'])).stdout.trim());
    const usable = Number((await run('nproc', [], { env: { PATH: process.env.PATH } })).stdout.trim());
    const cpu = await probeCpu();
    expect(cpu.total_cpu).toBe(online);
    expect(cpu.total_cpu).toBeGreaterThanOrEqual(usable);
    expect(cpu.model).not.toBe('');
    // Sysfs topology: at least one socket, and no more cores than hardware threads.
    expect(cpu.sockets).toBeGreaterThanOrEqual(1);
    expect(cpu.cores).toBeGreaterThanOrEqual(cpu.sockets ?? 1);
    expect(cpu.cores).toBeLessThanOrEqual(online);
  });

  it('reports MemTotal of /proc/meminfo in GiB', async () => {
    const kb = Number(/^MemTotal:\s+(\d+) kB$/m.exec(await readFile('/proc/meminfo', 'utf8'))?.[1]);
    expect(kb).toBeGreaterThan(0);
    const memory = await probeMemory();
    expect(memory.bytes).toBe(kb * 1024);
    expect(memory.total_memory).toBe(Math.round(((kb * 1024) / 2 ** 30) * 100) / 100);
  });

  it('measures everything in one go', async () => {
    const probe = createProbe();
    const first = await probe();
    expect(first.specs.total_cpu).toBe(first.cpu.total_cpu);
    expect(first.specs.total_storage).toBe(first.storage.total_storage);
    expect(first.duration_ms).toBeGreaterThanOrEqual(0);

    expect(first.specs.total_storage).toBeGreaterThan(0);
  });

  it('keeps the value a failing tool could not measure this time, and says so', async () => {
    let lsblkGone = false;
    const run: RunCommand = (file, args, timeoutMs) =>
      file === 'lsblk' && lsblkGone ? Promise.resolve({ ok: false, reason: 'not-found', message: 'lsblk is not installed' }) : runCommand(file, args, timeoutMs);
    const probe = createProbe({ run });
    const first = await probe();
    lsblkGone = true;
    const second = await probe();
    expect(second.specs).toEqual(first.specs);
    expect(second.warnings).toContain(`lsblk is not installed; storage kept at ${first.specs.total_storage} GB`);
  });
});
