import os from 'node:os';

export interface CpuReport {
  /** Logical cores online (hardware threads), what `getconf _NPROCESSORS_ONLN` says. */
  total_cpu: number;
  model: string;
}

/**
 * `os.cpus()` lists one entry per online logical CPU; it is what
 * systeminformation's `cpu().cores` returns, without the `lscpu` and
 * `dmidecode` children (and the synchronous fallbacks) that `cpu()` runs.
 * It ignores CPU affinity and cgroup quotas on purpose: the registry records
 * the machine, not this process's share of it.
 */
export function probeCpu(cpus: () => os.CpuInfo[] = os.cpus): CpuReport {
  const list = cpus();
  const models = [...new Set(list.map((c) => c.model.trim()).filter((m) => m !== ''))];
  return { total_cpu: list.length, model: models.join(' + ') || 'unknown' };
}
