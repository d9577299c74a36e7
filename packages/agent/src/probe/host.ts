import { readFile, readdir } from 'node:fs/promises';
import os from 'node:os';

/** What the host says about itself; null where it does not. */
export interface HostReport {
  cpu_model: string | null;
  /** The kernel's machine name: `x86_64`, `aarch64`. */
  arch: string | null;
  sockets: number | null;
  physical_cores: number | null;
  threads: number | null;
  os_name: string | null;
  os_version: string | null;
  kernel: string | null;
}

export interface HostProbeDeps {
  /** Root of the file system read (`/`; a fixture tree in tests). */
  root?: string;
  machine?: () => string;
  release?: () => string;
  cpus?: () => os.CpuInfo[];
}

/** `NAME` and `VERSION_ID` (or `VERSION`) of os-release(5); quotes removed. */
export function parseOsRelease(text: string): { name: string | null; version: string | null } {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) values.set(m[1], m[2].replace(/^(["'])(.*)\1$/, '$2'));
  }
  return { name: values.get('NAME') ?? null, version: values.get('VERSION_ID') ?? values.get('VERSION') ?? null };
}

/**
 * Sockets and physical cores from sysfs topology: distinct
 * `physical_package_id`s, and distinct (package, `core_id`) pairs, over the
 * online CPUs that have them. No child process (lscpu) and no dmidecode.
 */
export async function readCpuTopology(root: string): Promise<{ sockets: number | null; physicalCores: number | null }> {
  const base = `${root}/sys/devices/system/cpu`;
  let names: string[];
  try {
    names = (await readdir(base)).filter((n) => /^cpu\d+$/.test(n));
  } catch {
    return { sockets: null, physicalCores: null };
  }
  const pairs = await Promise.all(
    names.map(async (cpu) => {
      const [pkg, core] = await Promise.all([
        readFile(`${base}/${cpu}/topology/physical_package_id`, 'utf8').then((t) => t.trim(), () => undefined),
        readFile(`${base}/${cpu}/topology/core_id`, 'utf8').then((t) => t.trim(), () => undefined),
      ]);
      return pkg === undefined || core === undefined ? undefined : { pkg, core };
    }),
  );
  const known = pairs.filter((p): p is { pkg: string; core: string } => p !== undefined);
  if (known.length === 0) return { sockets: null, physicalCores: null };
  return { sockets: new Set(known.map((p) => p.pkg)).size, physicalCores: new Set(known.map((p) => `${p.pkg}/${p.core}`)).size };
}

/** `model name` (x86) or, on Arm where the kernel names no model, nothing: null rather than a guess. */
function cpuModel(cpus: os.CpuInfo[]): string | null {
  const models = [...new Set(cpus.map((c) => c.model.trim()).filter((m) => m !== '' && m !== 'unknown'))];
  return models.length > 0 ? models.join(' + ') : null;
}

export async function probeHost(deps: HostProbeDeps = {}): Promise<HostReport> {
  const root = deps.root ?? '';
  const cpus = (deps.cpus ?? os.cpus)();
  const [topology, release] = await Promise.all([
    readCpuTopology(root),
    readFile(`${root}/etc/os-release`, 'utf8').then(parseOsRelease, () =>
      readFile(`${root}/usr/lib/os-release`, 'utf8').then(parseOsRelease, () => ({ name: null, version: null })),
    ),
  ]);
  return {
    cpu_model: cpuModel(cpus),
    arch: (deps.machine ?? os.machine)() || null,
    sockets: topology.sockets,
    physical_cores: topology.physicalCores,
    threads: cpus.length > 0 ? cpus.length : null,
    os_name: release.name,
    os_version: release.version,
    kernel: (deps.release ?? os.release)() || null,
  };
}
