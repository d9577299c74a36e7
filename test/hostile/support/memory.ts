import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface MemoryPeaks {
  /** Peak RSS of this process (the in-process masters live here, with vitest and the attackers). */
  rssBytes: number;
  heapUsedBytes: number;
  samples: number;
}

/**
 * Samples this process every `intervalMs` (unref'd: it never keeps the
 * process alive). Started once for the suite; read by the summary.
 */
class Sampler {
  #timer: NodeJS.Timeout | undefined;
  readonly peaks: MemoryPeaks = { rssBytes: 0, heapUsedBytes: 0, samples: 0 };

  start(intervalMs = 50): void {
    if (this.#timer !== undefined) return;
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
    this.#timer.unref();
  }

  sample(): void {
    const m = process.memoryUsage();
    this.peaks.rssBytes = Math.max(this.peaks.rssBytes, m.rss);
    this.peaks.heapUsedBytes = Math.max(this.peaks.heapUsedBytes, m.heapUsed);
    this.peaks.samples += 1;
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

export const sampler = new Sampler();

let gcFn: (() => void) | undefined;

/** A full GC, so heap sizes before and after an attack compare what is retained, not garbage. */
export function collectGarbage(): void {
  if (gcFn === undefined) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
}

export function retainedHeapBytes(): number {
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

/** VmRSS and VmHWM (the kernel's peak RSS over the process's life) of another process. */
export function processMemory(pid: number): { rssBytes: number; peakRssBytes: number } | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
}

/** Soft limit of open files for this process (children inherit it). */
export function openFilesLimit(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
    return soft === undefined || soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
  } catch {
    return 1024;
  }
}

export const MiB = 1024 * 1024;

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}
