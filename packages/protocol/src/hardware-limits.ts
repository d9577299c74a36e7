/**
 * Bounds of the machine's inventory (hardware.ts): apart from its schema so that
 * an agent reads them without loading zod.
 */
export const HARDWARE_LIMITS = {
  /** Devices listed; a 1,024-GPU host is not a worker this inventory is for. */
  maxGpus: 64,
  /** MIG devices per GPU (NVIDIA allows 7). */
  maxMigDevices: 8,
  /** Longest free-text string (a model name, a CPU model, a kernel release). */
  maxTextLength: 128,
  /** Longest identifier (UUID, PCI bus id, version). */
  maxIdLength: 64,
  /** The inventory's JSON, at most. */
  maxBytes: 12_288,
  /** MiB of one device's memory, at most (16 TiB). */
  maxMemoryMib: 16 * 1024 * 1024,
  maxCount: 65_536,
} as const;
