import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';

export interface CpuReport {
  /** Logical cores online (hardware threads), what `getconf _NPROCESSORS_ONLN` says. */
  total_cpu: number;
  model: string;
  /** Physical packages of the online CPUs (sysfs topology); null where the kernel does not say. */
  sockets: number | null;
  /** Physical cores of the online CPUs, each core's hardware threads counted once; null where the kernel does not say. */
  cores: number | null;
}

export interface CpuSources {
  cpus?: () => os.CpuInfo[];
  /** The text of /proc/cpuinfo. */
  cpuinfo?: () => Promise<string>;
  /** The folder /sys/devices/system/cpu. */
  sysfsCpu?: string;
}

/**
 * `os.cpus()` lists one entry per online logical CPU; it is what
 * systeminformation's `cpu().cores` returns, without the `lscpu` and
 * `dmidecode` children (and the synchronous fallbacks) that `cpu()` runs.
 * It ignores CPU affinity and cgroup quotas on purpose: the registry records
 * the machine, not this process's share of it.
 *
 * The model is read from /proc/cpuinfo, not from `os.cpus()`: on aarch64
 * libuv reports the "CPU part" field (`0xd4f` on Grace), because an aarch64
 * kernel prints no "model name"; the implementer and part ids are named here
 * the way lscpu names them ("ARM Neoverse-V2").
 */
export async function probeCpu(sources: CpuSources = {}): Promise<CpuReport> {
  const list = (sources.cpus ?? os.cpus)();
  const cpuinfo = await (sources.cpuinfo ?? (() => readFile('/proc/cpuinfo', 'utf8')))().catch(() => '');
  const fallback = [...new Set(list.map((c) => c.model.trim()).filter((m) => m !== '' && m !== 'unknown'))].join(' + ');
  const topology = await readTopology(sources.sysfsCpu ?? '/sys/devices/system/cpu');
  return { total_cpu: list.length, model: cpuModel(cpuinfo) ?? (fallback || 'unknown'), ...topology };
}

/** The CPU model(s) /proc/cpuinfo names, joined with " + " on a machine of mixed CPUs; undefined if it names none. */
export function cpuModel(cpuinfo: string): string | undefined {
  const names = new Set<string>();
  for (const block of cpuinfo.split(/\n\s*\n/)) {
    const field = (key: string) => new RegExp(`^${key}\\s*:\\s*(.+?)\\s*$`, 'm').exec(block)?.[1];
    const modelName = field('model name');
    if (modelName) {
      names.add(modelName.replace(/\s+/g, ' '));
      continue;
    }
    const implementer = field('CPU implementer');
    const part = field('CPU part');
    if (implementer && part) names.add(armCpuName(Number.parseInt(implementer, 16), Number.parseInt(part, 16)));
  }
  return names.size > 0 ? [...names].join(' + ') : undefined;
}

/**
 * Names of the aarch64 cores found in servers, from util-linux's lscpu-arm.c
 * (implementer id → vendor, part id → core). An unknown part keeps its ids.
 */
const ARM_VENDORS: ReadonlyMap<number, { vendor: string; parts: ReadonlyMap<number, string> }> = new Map([
  [
    0x41,
    {
      vendor: 'ARM',
      parts: new Map([
        [0xd03, 'Cortex-A53'],
        [0xd07, 'Cortex-A57'],
        [0xd08, 'Cortex-A72'],
        [0xd0b, 'Cortex-A76'],
        [0xd0c, 'Neoverse-N1'],
        [0xd40, 'Neoverse-V1'],
        [0xd49, 'Neoverse-N2'],
        [0xd4f, 'Neoverse-V2'],
        [0xd84, 'Neoverse-V3'],
        [0xd8e, 'Neoverse-N3'],
      ]),
    },
  ],
  [0x43, { vendor: 'Cavium', parts: new Map([[0x0af, 'ThunderX2 99xx']]) }],
  [0x48, { vendor: 'HiSilicon', parts: new Map([[0xd01, 'Kunpeng-920']]) }],
  [0x4e, { vendor: 'NVIDIA', parts: new Map([[0x004, 'Carmel']]) }],
  [
    0xc0,
    {
      vendor: 'Ampere',
      parts: new Map([
        [0xac3, 'Ampere-1'],
        [0xac4, 'Ampere-1a'],
      ]),
    },
  ],
]);

function armCpuName(implementer: number, part: number): string {
  const hex = (n: number, width: number) => `0x${n.toString(16).padStart(width, '0')}`;
  const known = ARM_VENDORS.get(implementer);
  const vendor = known?.vendor ?? `implementer ${hex(implementer, 2)}`;
  return `${vendor} ${known?.parts.get(part) ?? `part ${hex(part, 3)}`}`;
}

/**
 * Sockets and cores from sysfs: each online CPU's topology/ lists the CPUs of
 * its package and of its core (package_cpus_list and core_cpus_list since
 * Linux 5.6, core_siblings_list and thread_siblings_list before); counting the
 * distinct lists works alike on x86-64 and aarch64, where physical_package_id
 * and core_id are not always set (-1 on a machine without ACPI PPTT).
 */
async function readTopology(root: string): Promise<Pick<CpuReport, 'sockets' | 'cores'>> {
  const entries = await readdir(root).catch(() => [] as string[]);
  const packages = new Set<string>();
  const cores = new Set<string>();
  const first = async (dir: string, names: string[]) => {
    for (const name of names) {
      const text = await readFile(join(dir, name), 'utf8').catch(() => undefined);
      if (text !== undefined) return text.trim();
    }
    return undefined;
  };
  for (const entry of entries.filter((e) => /^cpu\d+$/.test(e))) {
    // An offline CPU has no topology/ folder: it is not counted, as in total_cpu.
    const dir = join(root, entry, 'topology');
    const pkg = await first(dir, ['package_cpus_list', 'core_siblings_list']);
    const core = await first(dir, ['core_cpus_list', 'thread_siblings_list']);
    if (pkg !== undefined) packages.add(pkg);
    if (core !== undefined) cores.add(core);
  }
  return { sockets: packages.size > 0 ? packages.size : null, cores: cores.size > 0 ? cores.size : null };
}
