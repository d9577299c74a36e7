import type os from 'node:os';
import type { Specs } from '@cluster/protocol/agent-side';
import { realTimers, type Timers } from '../timers.js';
import { probeCpu, type CpuReport } from './cpu.js';
import { createGpuProbe, readPciFunctions, type GpuReport, type PciFunction } from './gpu.js';
import { probeHost, type HostProbeDeps, type HostReport } from './host.js';
import { probeMemory, type MemoryReport } from './memory.js';
import { runCommand, type RunCommand } from './run-command.js';
import { probeStorage, type StorageReport } from './storage.js';

export interface ProbeReport {
  specs: Specs;
  cpu: CpuReport;
  memory: MemoryReport;
  storage: StorageReport;
  gpu: GpuReport;
  /** CPU model, architecture, topology, OS and kernel, for the inventory; absent from a fake probe (no inventory is sent). */
  host?: HostReport;
  /** Things an admin may want to know (a hung nvidia-smi, lsblk missing …). */
  warnings: string[];
  duration_ms: number;
}

export type Probe = () => Promise<ProbeReport>;

export interface ProbeOptions {
  run?: RunCommand;
  timers?: Timers;
  now?: () => number;
  cpus?: () => os.CpuInfo[];
  /** /proc/cpuinfo's text and the sysfs cpu folder (tests give an aarch64 host's). */
  cpuinfo?: () => Promise<string>;
  sysfsCpu?: string;
  memoryBytes?: () => Promise<number>;
  readPci?: () => Promise<PciFunction[]>;
  /** Where the host facts are read (tests: a fixture tree, a fixed arch and kernel). */
  host?: HostProbeDeps;
  /** How long nvidia-smi, lspci and lsblk may take. */
  commandTimeoutMs?: number;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;

/**
 * Measures the machine. Every part is asynchronous (no synchronous child
 * process), the parts run side by side, and a part that fails keeps the value
 * it had on the previous run, with a warning, so that a flaky tool does not
 * make the specs flap in the registry.
 */
export function createProbe(options: ProbeOptions = {}): Probe {
  const run = options.run ?? runCommand;
  const timers = options.timers ?? realTimers;
  const now = options.now ?? (() => performance.now());
  const timeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const probeGpu = createGpuProbe({ run, timers, timeoutMs, readPci: options.readPci ?? (() => readPciFunctions()) });
  let lastStorage: StorageReport = { total_storage: 0, disks: [], skipped: [] };
  let lastMemory: MemoryReport = { total_memory: 0, bytes: 0 };

  return async function probe(): Promise<ProbeReport> {
    const started = now();
    const warnings: string[] = [];
    const [cpu, memory, storage, gpu, host] = await Promise.all([
      probeCpu(options),
      probeMemory(options.memoryBytes).catch((err: Error) => {
        warnings.push(`cannot read the memory size: ${err.message}; kept ${lastMemory.total_memory} GiB`);
        return lastMemory;
      }),
      probeStorage({ run, timers, timeoutMs }).then((r) => {
        if ('error' in r) {
          warnings.push(`${r.error}; storage kept at ${lastStorage.total_storage} GB`);
          return lastStorage;
        }
        return r;
      }),
      probeGpu(),
      probeHost({ cpus: options.cpus, ...options.host }),
    ]);
    lastStorage = storage;
    lastMemory = memory;
    warnings.push(...gpu.warnings);
    return {
      specs: {
        total_cpu: cpu.total_cpu,
        total_memory: memory.total_memory,
        total_storage: storage.total_storage,
        total_gpu: gpu.total_gpu,
      },
      cpu,
      memory,
      storage,
      gpu,
      host,
      warnings,
      duration_ms: Math.round(now() - started),
    };
  };
}

export type { CpuReport } from './cpu.js';
export type { MemoryReport } from './memory.js';
export type { HostReport } from './host.js';
export { toHardware } from './inventory.js';
export type { StorageReport, CountedDisk, SkippedDevice } from './storage.js';
export type { GpuReport, GpuDevice, GpuMethod, ExcludedAdapter } from './gpu.js';
