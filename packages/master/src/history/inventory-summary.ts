import type { Hardware } from '@cluster/protocol';

/**
 * What an inventory_changed event keeps of the new inventory besides its
 * digest: enough to read the change without the whole document (the current
 * one is in WORKER_REGISTRY's `hardware`; older ones are not kept).
 */
export function inventorySummary(hardware: Hardware): { gpus: number; gpu_models: string[]; cpu_model: string | null; arch: string | null; kernel: string | null; agent_version: string | null } {
  const models = [...new Set(hardware.gpus.map((gpu) => gpu.model).filter((model): model is string => typeof model === 'string'))];
  return {
    gpus: hardware.gpus.length,
    gpu_models: models.slice(0, 8),
    cpu_model: hardware.host.cpu_model ?? null,
    arch: hardware.host.arch ?? null,
    kernel: hardware.host.kernel ?? null,
    agent_version: hardware.host.agent_version ?? null,
  };
}
