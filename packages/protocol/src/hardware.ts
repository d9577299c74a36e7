import { z } from 'zod';
import { HARDWARE_LIMITS } from './hardware-limits.js';

export { HARDWARE_LIMITS };

/**
 * The machine's inventory (protocol version 2): what a scheduler needs to
 * tell machines apart, beyond the four totals. Every value is null when the
 * machine does not say. Everything is bounded, so one hello cannot make the
 * master store or show more than HARDWARE_LIMITS allows; strings are data
 * from the machine (shown as text, escaped in JSON), and C0/C1 control
 * characters are refused so that they reach neither logs nor terminals.
 */

// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const NO_CONTROL_CHARACTERS = /^[^\u0000-\u001f\u007f-\u009f]*$/;

const text = (max: number) => z.string().max(max).regex(NO_CONTROL_CHARACTERS).nullable();
const freeText = text(HARDWARE_LIMITS.maxTextLength);
const id = text(HARDWARE_LIMITS.maxIdLength);
const mib = z.number().int().min(0).max(HARDWARE_LIMITS.maxMemoryMib).nullable();
const count = z.number().int().min(0).max(HARDWARE_LIMITS.maxCount).nullable();

export const MigDeviceSchema = z.strictObject({
  /** MIG profile, e.g. `3g.40gb`. */
  profile: id,
  uuid: id,
  memory_mib: mib,
});

export const GpuInventorySchema = z.strictObject({
  /** `NVIDIA`, `AMD`. */
  vendor: id,
  /** As the driver names it, e.g. `NVIDIA H100 80GB HBM3`. */
  model: freeText,
  memory_mib: mib,
  uuid: id,
  /** `dddd:bb:dd.f`, lower case. */
  pci_bus_id: id,
  driver_version: id,
  /** The newest CUDA version the driver supports, e.g. `12.8`. */
  cuda_driver_version: id,
  /** `major.minor`, e.g. `9.0`. */
  compute_capability: id,
  /** Current MIG mode; null when the GPU has none or does not say. */
  mig_mode: z.enum(['enabled', 'disabled']).nullable(),
  /** The MIG devices when MIG is enabled; null otherwise. */
  mig_devices: z.array(MigDeviceSchema).max(HARDWARE_LIMITS.maxMigDevices).nullable(),
});

export const HostInventorySchema = z.strictObject({
  cpu_model: freeText,
  /** `x86_64`, `aarch64` (the kernel's machine name). */
  arch: id,
  sockets: count,
  physical_cores: count,
  /** Logical CPUs (hardware threads). */
  threads: count,
  os_name: freeText,
  os_version: freeText,
  kernel: freeText,
  agent_version: id,
});

export const HardwareSchema = z
  .strictObject({
    gpus: z.array(GpuInventorySchema).max(HARDWARE_LIMITS.maxGpus),
    host: HostInventorySchema,
  })
  .refine((hardware) => Buffer.byteLength(JSON.stringify(hardware)) <= HARDWARE_LIMITS.maxBytes, {
    message: `inventory larger than ${HARDWARE_LIMITS.maxBytes} bytes`,
  });

export type MigDevice = z.infer<typeof MigDeviceSchema>;
export type GpuInventory = z.infer<typeof GpuInventorySchema>;
export type HostInventory = z.infer<typeof HostInventorySchema>;
export type Hardware = z.infer<typeof HardwareSchema>;
