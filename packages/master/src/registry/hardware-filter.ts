import type { Worker, WorkerFilter } from './worker.js';

/** True when the filter names an inventory filter (gpuModel, minGpuMemoryGib, arch). */
export function hasHardwareFilter(filter: WorkerFilter): boolean {
  return filter.gpuModel !== undefined || filter.minGpuMemoryGib !== undefined || filter.arch !== undefined;
}

/**
 * A GPU reports the memory usable to programs, a few percent under the size it
 * is sold with (an H100 80GB reports 81,559 MiB, 79.6 GiB; an L4 24GB 23,034
 * MiB): `--min-gpu-memory 80` must find the H100s, so a device counts when it
 * has at least 93% of the GiB asked for (a T4 16GB reports 93.75%).
 */
export const GPU_MEMORY_ALLOWANCE = 0.93;

/**
 * The inventory filters, applied to workers the database query returned. They
 * are checked here rather than in the query: the list is read whole anyway (one
 * find, one batch), and the dev database's support of array paths and $regex
 * differs from MongoDB's. A worker without an inventory matches none of them.
 * All given ones must hold; the GPU ones hold when one GPU satisfies both.
 */
export function matchesHardwareFilter(worker: Worker, filter: WorkerFilter): boolean {
  if (!hasHardwareFilter(filter)) return true;
  const hardware = worker.hardware;
  if (hardware === undefined) return false;
  if (filter.arch !== undefined && hardware.host.arch !== filter.arch) return false;
  if (filter.gpuModel === undefined && filter.minGpuMemoryGib === undefined) return true;
  const model = filter.gpuModel?.toLowerCase();
  const minMib = filter.minGpuMemoryGib === undefined ? undefined : filter.minGpuMemoryGib * 1024 * GPU_MEMORY_ALLOWANCE;
  return hardware.gpus.some(
    (gpu) =>
      (model === undefined || (gpu.model ?? '').toLowerCase().includes(model)) &&
      (minMib === undefined || (gpu.memory_mib !== null && gpu.memory_mib >= minMib)),
  );
}
