import type { WorkerHardware } from '../registry/hardware-document.js';

/** A model as a column shows it: the vendor's prefix dropped (`NVIDIA H100 80GB HBM3` → `H100 80GB HBM3`). */
function shortModel(model: string | null): string {
  return (model ?? 'unknown').replace(/^(NVIDIA|AMD)\s+/i, '');
}

/** `8× H100 80GB HBM3`; several models joined by `, ` (most numerous first); `-` without an inventory or GPUs. */
export function gpuSummary(hardware: WorkerHardware | undefined): string {
  if (hardware === undefined || hardware.gpus.length === 0) return '-';
  const counts = new Map<string, number>();
  for (const gpu of hardware.gpus) counts.set(shortModel(gpu.model), (counts.get(shortModel(gpu.model)) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([model, n]) => `${n}× ${model}`)
    .join(', ');
}

const orDash = (value: string | number | null): string => (value === null ? '-' : String(value));

/** `worker show`'s inventory lines, named as in the document (`hardware.…`). */
export function hardwareDetails(hardware: WorkerHardware): [string, string][] {
  const { host } = hardware;
  const rows: [string, string][] = [
    ['hardware.host', `${orDash(host.cpu_model)}, ${orDash(host.arch)}, ${orDash(host.sockets)} socket(s), ${orDash(host.physical_cores)} cores, ${orDash(host.threads)} threads`],
    ['hardware.os', `${orDash(host.os_name)} ${orDash(host.os_version)}, kernel ${orDash(host.kernel)}`],
    ['hardware.agent_version', orDash(host.agent_version)],
    ['hardware.reported_at', hardware.reported_at.toISOString().replace(/\.\d{3}Z$/, 'Z')],
  ];
  hardware.gpus.forEach((gpu, i) => {
    const memory = gpu.memory_mib === null ? '-' : `${gpu.memory_mib} MiB`;
    const mig = gpu.mig_mode === null ? '' : `, MIG ${gpu.mig_mode}${gpu.mig_devices && gpu.mig_devices.length > 0 ? ` (${gpu.mig_devices.map((m) => orDash(m.profile)).join(' ')})` : ''}`;
    rows.push([
      `hardware.gpus[${i}]`,
      `${orDash(gpu.vendor)} ${orDash(gpu.model)}, ${memory}, ${orDash(gpu.pci_bus_id)}, ${orDash(gpu.uuid)}, driver ${orDash(gpu.driver_version)}, CUDA ${orDash(gpu.cuda_driver_version)}, compute ${orDash(gpu.compute_capability)}${mig}`,
    ]);
  });
  return rows;
}

/** The JSON form is the registry's (the HTTP API uses it too); the CLI takes it from there. */
export { hardwareToJson } from '../registry/worker-json.js';
