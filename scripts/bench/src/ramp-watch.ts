import { readFileSync } from 'node:fs';
import { cpuBetween, machineLoad, sampleProcess, type ProcSample } from './procfs.js';
import { progress, sleep } from './util.js';

export interface RampOutcome {
  target: number;
  reached: number;
  complete: boolean;
  seconds: number;
  /** Share of one core each group of processes used during the ramp (summed over its processes). */
  cpuCoreShare: Record<string, number>;
  /** Busy share of the whole machine (all cores, every process, other users' too), from /proc/stat. */
  machineBusyShare: number | undefined;
  loadavg1AtEnd: number;
}

/** Busy and total jiffies of all cores together. */
function machineJiffies(): { busy: number; total: number } | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    const total = cpu.reduce((a, b) => a + b, 0);
    // idle and iowait are fields 4 and 5.
    return { busy: total - (cpu[3] ?? 0) - (cpu[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

/**
 * Waits until `target` agents are connected or the deadline passes, without
 * failing: a ramp the machine cannot carry is a figure too. Meanwhile it
 * takes the CPU used by each group of processes, to say what limited it.
 */
export async function watchRamp(options: {
  target: number;
  deadlineMs: number;
  connected: () => Promise<number>;
  pids: Record<string, number[]>;
}): Promise<RampOutcome> {
  const t0 = performance.now();
  const first = new Map<number, ProcSample | undefined>();
  for (const list of Object.values(options.pids)) for (const pid of list) first.set(pid, sampleProcess(pid));
  const j0 = machineJiffies();
  let reached = 0;
  let lastReport = t0;
  for (;;) {
    reached = await options.connected();
    if (reached >= options.target || performance.now() - t0 > options.deadlineMs) break;
    if (performance.now() - lastReport > 15_000) {
      lastReport = performance.now();
      progress(`ramp: ${reached} of ${options.target} connected`);
    }
    await sleep(500);
  }
  const j1 = machineJiffies();
  const cpuCoreShare: Record<string, number> = {};
  for (const [group, list] of Object.entries(options.pids)) {
    cpuCoreShare[group] = list.reduce((n, pid) => {
      const a = first.get(pid);
      const b = sampleProcess(pid);
      return a === undefined || b === undefined ? n : n + cpuBetween(a, b).coreShare;
    }, 0);
  }
  return {
    target: options.target,
    reached,
    complete: reached >= options.target,
    seconds: (performance.now() - t0) / 1_000,
    cpuCoreShare,
    machineBusyShare: j0 === undefined || j1 === undefined || j1.total === j0.total ? undefined : (j1.busy - j0.busy) / (j1.total - j0.total),
    loadavg1AtEnd: machineLoad().loadavg1,
  };
}
