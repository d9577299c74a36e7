import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** CPU time and memory of one process, read from /proc (Linux). */
export interface ProcSample {
  atMs: number;
  /** utime + stime, milliseconds. */
  cpuMs: number;
  /** VmRSS, bytes. */
  rssBytes: number;
  /** VmHWM (peak RSS so far), bytes. */
  hwmBytes: number;
}

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

function statusKb(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match?.[1] === undefined ? 0 : Number(match[1]);
}

/** Undefined when the process is gone. */
export function sampleProcess(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return {
      atMs: performance.now(),
      cpuMs: (ticks * 1000) / clockTicks(),
      rssBytes: statusKb(status, 'VmRSS') * 1024,
      hwmBytes: statusKb(status, 'VmHWM') * 1024,
    };
  } catch {
    return undefined;
  }
}

/** CPU between two samples: milliseconds used and the share of one core. */
export function cpuBetween(a: ProcSample, b: ProcSample): { cpuMs: number; wallMs: number; coreShare: number } {
  const cpuMs = b.cpuMs - a.cpuMs;
  const wallMs = b.atMs - a.atMs;
  return { cpuMs, wallMs, coreShare: wallMs > 0 ? cpuMs / wallMs : 0 };
}

/** Samples a process every `everyMs` until stopped; keeps every sample. */
export class ProcWatcher {
  readonly samples: ProcSample[] = [];
  readonly #timer: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    everyMs: number,
  ) {
    this.take();
    this.#timer = setInterval(() => this.take(), everyMs);
  }

  take(): ProcSample | undefined {
    const s = sampleProcess(this.pid);
    if (s !== undefined) this.samples.push(s);
    return s;
  }

  stop(): ProcSample | undefined {
    clearInterval(this.#timer);
    return this.take();
  }
}

/** The machine's load average and core count, for the report's context. */
export function machineLoad(): { loadavg1: number; cores: number } {
  try {
    const [one] = readFileSync('/proc/loadavg', 'utf8').split(' ');
    const cores = readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('processor')).length;
    return { loadavg1: Number(one), cores };
  } catch {
    return { loadavg1: Number.NaN, cores: 0 };
  }
}

/** CPU time the whole machine spent (every core, every process: user, nice, system, irq, softirq, steal) from /proc/stat, in ms. */
export function machineCpuMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  // cpu  user nice system idle iowait irq softirq steal …
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return (busy * 1000) / clockTicks();
}
