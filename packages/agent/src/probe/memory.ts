import { readFile } from 'node:fs/promises';
import os from 'node:os';

export interface MemoryReport {
  /** GiB (2^30 bytes) of MemTotal, two decimals. */
  total_memory: number;
  bytes: number;
}

export const GIB = 2 ** 30;

/**
 * MemTotal of /proc/meminfo × 1024, read asynchronously: what the kernel
 * manages, a little below the installed DIMMs (firmware and kernel
 * reservations). `os.totalmem()` where that file is missing or unreadable (not
 * Linux). The same number systeminformation's `mem().total` gives, which this
 * read before; loading that library for one line of one file cost the
 * resident agent about 5 MB.
 */
export async function probeMemory(totalBytes: () => Promise<number> = memTotalBytes): Promise<MemoryReport> {
  const bytes = await totalBytes();
  return { total_memory: round2(bytes / GIB), bytes };
}

async function memTotalBytes(): Promise<number> {
  let text: string;
  try {
    text = await readFile('/proc/meminfo', 'utf8');
  } catch {
    return os.totalmem();
  }
  return memTotalFromMeminfo(text) ?? os.totalmem();
}

/** Bytes of the `MemTotal:` line of /proc/meminfo's text (given in kB); undefined when it has none. */
export function memTotalFromMeminfo(text: string): number | undefined {
  const kb = Number(/^MemTotal:\s*(\d+)/m.exec(text)?.[1]);
  return Number.isSafeInteger(kb) && kb > 0 ? kb * 1024 : undefined;
}

export function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
