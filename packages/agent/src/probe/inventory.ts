import { HARDWARE_LIMITS, type GpuInventory, type Hardware } from '@cluster/protocol/agent-side';
import type { GpuDevice } from './gpu.js';
import type { HostReport } from './host.js';

/** Control characters out, length bounded: the master refuses an inventory that breaks its bounds, so the agent never sends one. */
function clean(value: string | null | undefined, max: number): string | null {
  if (value === undefined || value === null) return null;
  // eslint-disable-next-line no-control-regex
  const text = value.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trim();
  return text === '' ? null : text.slice(0, max);
}

const id = (value: string | null | undefined) => clean(value, HARDWARE_LIMITS.maxIdLength);
const freeText = (value: string | null | undefined) => clean(value, HARDWARE_LIMITS.maxTextLength);

function gpuInventory(gpu: GpuDevice): GpuInventory {
  return {
    vendor: id(gpu.vendor),
    model: freeText(gpu.model),
    memory_mib: gpu.memory_mib === null ? null : Math.min(Math.round(gpu.memory_mib), HARDWARE_LIMITS.maxMemoryMib),
    uuid: id(gpu.uuid),
    pci_bus_id: id(gpu.bus_id),
    driver_version: id(gpu.driver_version),
    cuda_driver_version: id(gpu.cuda_driver_version),
    compute_capability: id(gpu.compute_capability),
    mig_mode: gpu.mig_mode ?? null,
    mig_devices:
      gpu.mig_mode === 'enabled' && gpu.mig_devices !== undefined
        ? gpu.mig_devices.slice(0, HARDWARE_LIMITS.maxMigDevices).map((m) => ({ profile: id(m.profile), uuid: id(m.uuid), memory_mib: migMemoryMib(m.profile) }))
        : null,
  };
}

/** A MIG profile names its memory in GB (`3g.40gb`); NVIDIA means GiB-sized slices (a 3g.40gb device has 40,192 MiB or so): null rather than a wrong exact figure. */
function migMemoryMib(_profile: string): null {
  return null;
}

const count = (n: number | null) => (n === null ? null : Math.min(n, HARDWARE_LIMITS.maxCount));

/**
 * The protocol's inventory (version 2) from what the probe measured. A host
 * with more GPUs than HARDWARE_LIMITS.maxGpus lists the first ones (the count
 * in the specs stays whole); an inventory over the byte limit drops its MIG
 * devices, then its GPUs, so it is always accepted.
 */
export function toHardware(gpus: readonly GpuDevice[], host: HostReport, agentVersion: string): Hardware {
  const hardware: Hardware = {
    gpus: gpus.slice(0, HARDWARE_LIMITS.maxGpus).map(gpuInventory),
    host: {
      cpu_model: freeText(host.cpu_model),
      arch: id(host.arch),
      sockets: count(host.sockets),
      physical_cores: count(host.physical_cores),
      threads: count(host.threads),
      os_name: freeText(host.os_name),
      os_version: freeText(host.os_version),
      kernel: freeText(host.kernel),
      agent_version: id(agentVersion),
    },
  };
  const size = () => Buffer.byteLength(JSON.stringify(hardware));
  if (size() > HARDWARE_LIMITS.maxBytes) for (const g of hardware.gpus) g.mig_devices = g.mig_devices === null ? null : [];
  while (size() > HARDWARE_LIMITS.maxBytes && hardware.gpus.length > 0) hardware.gpus.pop();
  return hardware;
}
