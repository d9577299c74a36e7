import { readFile, readdir } from 'node:fs/promises';
import type { Timers } from '../timers.js';
import { AMD_INTEGRATED_DEVICE_IDS, KNOWN_MODELS, NON_COMPUTE_VENDORS, VENDOR, hex4 } from './gpu-ids.js';
import { runWithDeadline, type CommandResult, type RunCommand } from './run-command.js';

/*
 * systeminformation's graphics() is not used: it builds its list from `lspci`
 * only (no pciutils, no GPUs, even with a working nvidia-smi), counts BMC and
 * virtual VGA adapters, and runs nvidia-smi and dmidecode with execSync, which
 * blocks the event loop for as long as a wedged driver makes them hang.
 */

export type GpuMethod = 'nvidia-smi' | 'nvidia-smi+pci-sysfs' | 'pci-sysfs';

export interface GpuDevice {
  vendor: 'NVIDIA' | 'AMD';
  model: string;
  /** MiB of device memory; null when neither nvidia-smi nor the driver says. */
  memory_mib: number | null;
  /** PCI address, `dddd:bb:dd.f`. */
  bus_id: string;
  uuid?: string;
  /** From nvidia-smi (absent from the PCI bus and from drivers too old for these query fields). */
  driver_version?: string;
  /** The newest CUDA version the driver supports (`nvidia-smi --version`). */
  cuda_driver_version?: string;
  compute_capability?: string;
  mig_mode?: 'enabled' | 'disabled';
  /** When MIG is enabled: its devices, from `nvidia-smi -L`. */
  mig_devices?: { profile: string; uuid: string }[];
}

export interface ExcludedAdapter {
  bus_id: string;
  model: string;
  why: string;
}

export interface GpuReport {
  total_gpu: number;
  method: GpuMethod;
  devices: GpuDevice[];
  excluded: ExcludedAdapter[];
  warnings: string[];
}

// ---------------------------------------------------------------- nvidia-smi

/** The inventory's query; compute_cap needs driver 510 or later, so an older one is asked NVIDIA_SMI_BASE_ARGS. */
export const NVIDIA_SMI_ARGS = [
  '--query-gpu=index,name,pci.bus_id,memory.total,uuid,driver_version,compute_cap,mig.mode.current',
  '--format=csv,noheader,nounits',
] as const;

export const NVIDIA_SMI_BASE_ARGS = [
  '--query-gpu=index,name,pci.bus_id,memory.total,uuid',
  '--format=csv,noheader,nounits',
] as const;

const NOT_AVAILABLE = /^\[?(N\/A|Not Supported|Unknown Error)\]?$/i;

/** The three inventory fields at the end of a line of NVIDIA_SMI_ARGS' answer, when they are there. */
function inventoryTail(fields: string[]): Pick<GpuDevice, 'driver_version' | 'compute_capability' | 'mig_mode'> | undefined {
  if (fields.length < 8) return undefined;
  const [driver = '', cc = '', mig = ''] = fields.slice(-3);
  const driverOk = /^\d+\.\d+(\.\d+)*$/.test(driver) || NOT_AVAILABLE.test(driver);
  const ccOk = /^\d+\.\d+$/.test(cc) || NOT_AVAILABLE.test(cc);
  const migOk = /^(Enabled|Disabled)$/i.test(mig) || NOT_AVAILABLE.test(mig);
  if (!driverOk || !ccOk || !migOk) return undefined;
  fields.splice(-3);
  return {
    ...(NOT_AVAILABLE.test(driver) ? {} : { driver_version: driver }),
    ...(NOT_AVAILABLE.test(cc) ? {} : { compute_capability: cc }),
    ...(NOT_AVAILABLE.test(mig) ? {} : { mig_mode: mig.toLowerCase() as 'enabled' | 'disabled' }),
  };
}

/**
 * Parses the answer to NVIDIA_SMI_ARGS, or to NVIDIA_SMI_BASE_ARGS (a line
 * whose last three fields are not a driver version, a compute capability and
 * a MIG mode is read as the base query's). Names may hold commas.
 */
export function parseNvidiaSmiCsv(text: string): GpuDevice[] {
  const devices: GpuDevice[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(',').map((f) => f.trim());
    if (fields.length < 5 || !/^\d+$/.test(fields[0] ?? '')) continue;
    const tail = inventoryTail(fields);
    const [uuid, memory, bus] = [fields.pop() ?? '', fields.pop() ?? '', fields.pop() ?? ''];
    const name = fields.slice(1).join(', ');
    const mib = Number(memory);
    devices.push({
      vendor: 'NVIDIA',
      model: name,
      memory_mib: memory !== '' && Number.isFinite(mib) ? mib : null,
      bus_id: normalizeBusId(bus),
      uuid,
      ...tail,
    });
  }
  return devices;
}

/** The CUDA version of `nvidia-smi --version` (drivers 525 and later print `CUDA Version : 12.8`). */
export function parseCudaVersion(text: string): string | undefined {
  return /^CUDA Version\s*:\s*(\d+\.\d+)\s*$/m.exec(text)?.[1];
}

/**
 * MIG devices by their GPU's UUID, from `nvidia-smi -L`:
 * `GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-…)` then
 * `  MIG 3g.20gb     Device  0: (UUID: MIG-…)` lines under it.
 */
export function parseMigDevices(text: string): Map<string, { profile: string; uuid: string }[]> {
  const byGpu = new Map<string, { profile: string; uuid: string }[]>();
  let current: { profile: string; uuid: string }[] | undefined;
  for (const line of text.split('\n')) {
    const gpu = /^GPU \d+: .*\(UUID: (GPU-[0-9a-f-]+)\)\s*$/i.exec(line);
    if (gpu?.[1]) {
      current = [];
      byGpu.set(gpu[1], current);
      continue;
    }
    const mig = /^\s+MIG (\S+)\s+Device\s+\d+: \(UUID: (MIG-[0-9a-zA-Z/-]+)\)\s*$/.exec(line);
    if (mig?.[1] && mig[2] && current) current.push({ profile: mig[1], uuid: mig[2] });
  }
  return byGpu;
}

/** nvidia-smi prints an 8-digit PCI domain (`00000000:18:00.0`); sysfs and lspci print 4. */
export function normalizeBusId(id: string): string {
  const m = /^(?:[0-9a-f]*?)([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(id.trim());
  return m ? `${m[1]}:${m[2]}:${m[3]}.${m[4]}`.toLowerCase() : id.trim().toLowerCase();
}

// ------------------------------------------------------------------ PCI bus

/** What sysfs says about one PCI function (`/sys/bus/pci/devices/<address>/{class,vendor,device}`). */
export interface PciFunction {
  address: string;
  classCode: number;
  vendorId: number;
  deviceId: number;
  /** amdgpu's `mem_info_vram_total`, when that driver is bound. */
  vramBytes: number | null;
}

/** Display controllers (class 0x03xxxx: VGA, 3D, other) and processing accelerators (0x1200xx, e.g. AMD Instinct MI300). */
export function isGpuClass(classCode: number): boolean {
  return classCode >> 16 === 0x03 || classCode >> 8 === 0x1200;
}

export type PciVerdict = { counted: true; vendor: GpuDevice['vendor'] } | { counted: false; why: string };

export function classifyPciFunction(fn: PciFunction): PciVerdict {
  if (fn.vendorId === VENDOR.nvidia) return { counted: true, vendor: 'NVIDIA' };
  if (fn.vendorId === VENDOR.amd) {
    if (AMD_INTEGRATED_DEVICE_IDS.has(fn.deviceId)) return { counted: false, why: 'AMD integrated graphics (APU)' };
    return { counted: true, vendor: 'AMD' };
  }
  const known = NON_COMPUTE_VENDORS.get(fn.vendorId);
  return { counted: false, why: known ?? `display adapter of vendor ${hex4(fn.vendorId)}, neither NVIDIA nor AMD` };
}

/** Reads the display and accelerator functions from sysfs; no child process, no pciutils. */
export async function readPciFunctions(root = '/sys/bus/pci/devices'): Promise<PciFunction[]> {
  const entries = await readdir(root);
  const found = await Promise.all(
    entries.map(async (address): Promise<PciFunction | undefined> => {
      const classCode = await readHex(`${root}/${address}/class`);
      if (classCode === undefined || !isGpuClass(classCode)) return undefined;
      const [vendorId, deviceId, vram] = await Promise.all([
        readHex(`${root}/${address}/vendor`),
        readHex(`${root}/${address}/device`),
        readFile(`${root}/${address}/mem_info_vram_total`, 'utf8').then(Number, () => NaN),
      ]);
      if (vendorId === undefined || deviceId === undefined) return undefined;
      return { address: address.toLowerCase(), classCode, vendorId, deviceId, vramBytes: Number.isFinite(vram) && vram > 0 ? vram : null };
    }),
  );
  return found.filter((f): f is PciFunction => f !== undefined).sort((a, b) => a.address.localeCompare(b.address));
}

async function readHex(path: string): Promise<number | undefined> {
  try {
    const n = Number.parseInt((await readFile(path, 'utf8')).trim(), 16);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Names by PCI address from `lspci -D -nn`, e.g. `0000:18:00.0 3D controller [0302]: NVIDIA Corporation GH100 [H100 SXM5 80GB] [10de:2330] (rev a1)`. */
export function parseLspciNames(text: string): Map<string, string> {
  const names = new Map<string, string>();
  const line = /^([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) [^:]*\[[0-9a-f]{4}\]: (.+?) \[[0-9a-f]{4}:[0-9a-f]{4}\](?: \(rev [0-9a-f]+\))?\s*$/i;
  for (const l of text.split('\n')) {
    const m = line.exec(l.trim());
    if (m?.[1] && m[2]) names.set(m[1].toLowerCase(), m[2]);
  }
  return names;
}

function tableName(fn: PciFunction): string {
  const id = `${hex4(fn.vendorId)}:${hex4(fn.deviceId)}`;
  return KNOWN_MODELS.get(id) ?? `PCI device ${id}`;
}

// -------------------------------------------------------------------- probe

export interface GpuProbeDeps {
  run: RunCommand;
  readPci: () => Promise<PciFunction[]>;
  timers: Timers;
  /** How long nvidia-smi (and lspci) may take before the PCI bus answers instead. */
  timeoutMs: number;
}

/**
 * Counts compute GPUs: NVIDIA through nvidia-smi when it answers (AMD ones
 * from the PCI bus beside it), otherwise NVIDIA and AMD GPUs on the PCI bus.
 * A hung nvidia-smi is abandoned after `timeoutMs`, and no second one is
 * started while it still lives, so repeated probes do not pile up children.
 */
export function createGpuProbe(deps: GpuProbeDeps): () => Promise<GpuReport> {
  let hungNvidiaSmi = false;

  async function nvidiaSmi(args: readonly string[] = NVIDIA_SMI_ARGS): Promise<CommandResult> {
    if (hungNvidiaSmi) {
      return { ok: false, reason: 'timeout', message: 'nvidia-smi from an earlier probe is still hung; not starting another' };
    }
    const { result, settled } = runWithDeadline(deps.run, 'nvidia-smi', args, deps.timeoutMs, deps.timers);
    const r = await result;
    if (!r.ok && r.reason === 'timeout') {
      hungNvidiaSmi = true;
      void settled.then(() => {
        hungNvidiaSmi = false;
      });
    }
    return r;
  }

  async function lspciNames(): Promise<Map<string, string>> {
    const { result } = runWithDeadline(deps.run, 'lspci', ['-D', '-nn'], deps.timeoutMs, deps.timers);
    const r = await result;
    return r.ok ? parseLspciNames(r.stdout) : new Map();
  }

  /** The CUDA version, and the MIG devices of GPUs in MIG mode: two more nvidia-smi runs, each under the deadline. */
  async function addDriverDetails(devices: GpuDevice[]): Promise<void> {
    const version = await nvidiaSmi(['--version']);
    const cuda = version.ok ? parseCudaVersion(version.stdout) : undefined;
    if (cuda !== undefined) for (const d of devices) d.cuda_driver_version = cuda;
    if (!devices.some((d) => d.mig_mode === 'enabled')) return;
    const list = await nvidiaSmi(['-L']);
    const migs = list.ok ? parseMigDevices(list.stdout) : new Map<string, { profile: string; uuid: string }[]>();
    for (const d of devices) {
      if (d.mig_mode === 'enabled' && d.uuid !== undefined) d.mig_devices = migs.get(d.uuid) ?? [];
    }
  }

  return async function probeGpu(): Promise<GpuReport> {
    const warnings: string[] = [];
    const [smi, pci] = await Promise.all([
      // A driver too old for the inventory's fields refuses the query: it is asked the counting fields alone.
      nvidiaSmi().then((r) => (!r.ok && r.reason === 'failed' ? nvidiaSmi(NVIDIA_SMI_BASE_ARGS) : r)),
      deps.readPci().catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') warnings.push(`cannot read the PCI bus from sysfs: ${err.message}`);
        return [] as PciFunction[];
      }),
    ]);

    const onBus: { fn: PciFunction; vendor: GpuDevice['vendor'] }[] = [];
    const notGpus: { fn: PciFunction; why: string }[] = [];
    for (const fn of pci) {
      const verdict = classifyPciFunction(fn);
      if (verdict.counted) onBus.push({ fn, vendor: verdict.vendor });
      else notGpus.push({ fn, why: verdict.why });
    }

    const smiDevices = smi.ok ? parseNvidiaSmiCsv(smi.stdout) : [];
    const useSmi = smiDevices.length > 0;
    if (useSmi) await addDriverDetails(smiDevices);
    if (!smi.ok && smi.reason !== 'not-found') {
      warnings.push(`${smi.message}; GPUs counted from the PCI bus instead`);
    } else if (smi.ok && !useSmi) {
      warnings.push('nvidia-smi listed no GPUs; GPUs counted from the PCI bus instead');
    }
    if (useSmi) {
      const nvidiaOnBus = onBus.filter((g) => g.vendor === 'NVIDIA').length;
      if (nvidiaOnBus > smiDevices.length) {
        warnings.push(`the PCI bus shows ${nvidiaOnBus} NVIDIA GPUs but nvidia-smi sees ${smiDevices.length}; counted what nvidia-smi sees`);
      }
    }

    // With nvidia-smi answering, the bus still supplies the AMD GPUs beside the NVIDIA ones.
    const fromBus = useSmi ? onBus.filter((g) => g.vendor === 'AMD') : onBus;
    const names = fromBus.length + notGpus.length > 0 ? await lspciNames() : new Map<string, string>();
    const nameOf = (fn: PciFunction) => names.get(fn.address) ?? tableName(fn);

    const devices: GpuDevice[] = [
      ...smiDevices,
      ...fromBus.map(({ fn, vendor }) => ({
        vendor,
        model: nameOf(fn),
        memory_mib: fn.vramBytes === null ? null : Math.round(fn.vramBytes / 2 ** 20),
        bus_id: fn.address,
      })),
    ];
    const excluded = notGpus.map(({ fn, why }) => ({ bus_id: fn.address, model: nameOf(fn), why }));
    const method: GpuMethod = !useSmi ? 'pci-sysfs' : fromBus.length > 0 ? 'nvidia-smi+pci-sysfs' : 'nvidia-smi';
    return { total_gpu: devices.length, method, devices, excluded, warnings };
  };
}

