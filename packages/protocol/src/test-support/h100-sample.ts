import type { GpuInventory } from '../hardware.js';

/**
 * One GPU of the recorded 8 × H100 SXM host as the inventory reports it
 * (packages/agent/src/probe/fixtures: h100-sxm-x8.inventory.csv, its first
 * row, with nvidia-smi-version.txt's CUDA version). One sample for the
 * tests that parse it (protocol), make it (the agent's inventory) and find
 * it in the registry (integration), so a change to the record is made once.
 */
export const H100_GPU: GpuInventory = {
  vendor: 'NVIDIA',
  model: 'NVIDIA H100 80GB HBM3',
  memory_mib: 81559,
  uuid: 'GPU-3f1c7a9e-5b0d-4c11-9a8e-0a1b2c3d4e01',
  pci_bus_id: '0000:18:00.0',
  driver_version: '570.124.06',
  cuda_driver_version: '12.8',
  compute_capability: '9.0',
  mig_mode: 'disabled',
  mig_devices: null,
};
