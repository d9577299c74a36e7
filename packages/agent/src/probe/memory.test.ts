import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { memTotalFromMeminfo, probeMemory } from './memory.js';

describe('memory probe', () => {
  it('reads MemTotal (kB) of /proc/meminfo as bytes', () => {
    const text = 'MemTotal:       24683772 kB\nMemFree:         1234567 kB\nMemAvailable:   20000000 kB\n';
    expect(memTotalFromMeminfo(text)).toBe(24683772 * 1024);
  });

  it('finds no size in a text without a MemTotal line, or a zero one', () => {
    expect(memTotalFromMeminfo('MemFree:         1234567 kB\n')).toBeUndefined();
    expect(memTotalFromMeminfo('MemTotal:       0 kB\n')).toBeUndefined();
    expect(memTotalFromMeminfo('')).toBeUndefined();
  });

  it("on this machine: the kernel's own figure (/proc/meminfo's MemTotal is sysinfo's totalram, which os.totalmem() gives)", async () => {
    expect((await probeMemory()).bytes).toBe(os.totalmem());
  });

  it('reports GiB with two decimals', async () => {
    expect(await probeMemory(() => Promise.resolve(24683772 * 1024))).toEqual({ total_memory: 23.54, bytes: 24683772 * 1024 });
  });
});
