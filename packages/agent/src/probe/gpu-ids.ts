/**
 * PCI ids the GPU probe needs by name. Counting never depends on the model
 * table: it only names devices when neither nvidia-smi nor lspci is there.
 */

export const VENDOR = {
  nvidia: 0x10de,
  amd: 0x1002,
} as const;

/** Display adapters that are never compute GPUs, by vendor. */
export const NON_COMPUTE_VENDORS: ReadonlyMap<number, string> = new Map([
  [0x1a03, 'ASPEED BMC display adapter'],
  [0x102b, 'Matrox display adapter (BMC / server VGA)'],
  [0x1234, 'QEMU/Bochs virtual VGA'],
  [0x1af4, 'virtio virtual GPU'],
  [0x15ad, 'VMware virtual SVGA'],
  [0x1013, 'Cirrus Logic virtual VGA'],
  [0x1b36, 'Red Hat QXL virtual display'],
  [0x1414, 'Hyper-V virtual display'],
  [0x80ee, 'VirtualBox virtual display'],
  [0x8086, 'Intel integrated graphics'],
  [0x103c, 'HPE iLO display adapter'],
]);

/**
 * AMD integrated GPUs (the graphics of Ryzen/Athlon APUs and Ryzen 7000+
 * desktop CPUs). They sit on the PCI bus as VGA controllers of vendor 0x1002
 * like any Radeon, so only their device ids tell them apart. Instinct APUs
 * (MI300A) are compute accelerators and are not in this list.
 */
export const AMD_INTEGRATED_DEVICE_IDS: ReadonlySet<number> = new Set([
  0x9874, // Carrizo/Bristol Ridge
  0x15d8, // Picasso/Raven 2
  0x15dd, // Raven Ridge
  0x15e7, // Barcelo
  0x1636, // Renoir
  0x1638, // Cezanne
  0x164c, // Lucienne
  0x164e, // Raphael (Ryzen 7000)
  0x13c0, // Granite Ridge (Ryzen 9000)
  0x1681, // Rembrandt
  0x15bf, // Phoenix
  0x15c8, // Phoenix 2
  0x1900, // Hawk Point
  0x150e, // Strix Point
  0x1586, // Strix Halo
  0x1506, // Mendocino
  0x163f, // Van Gogh
]);

/** Names for when neither nvidia-smi nor lspci can name a device. */
export const KNOWN_MODELS: ReadonlyMap<string, string> = new Map([
  ['10de:2330', 'NVIDIA H100 SXM5 80GB'],
  ['10de:2331', 'NVIDIA H100 PCIe'],
  ['10de:2321', 'NVIDIA H100 NVL'],
  ['10de:2335', 'NVIDIA H200 SXM 141GB'],
  // The Hopper GPU of a GH200 superchip (aarch64 Grace hosts), as pci.ids names its two memory sizes.
  ['10de:2342', 'NVIDIA GH200 120GB / 480GB'],
  ['10de:2348', 'NVIDIA GH200 144GB HBM3e'],
  ['10de:20b0', 'NVIDIA A100 SXM4 40GB'],
  ['10de:20b2', 'NVIDIA A100 SXM4 80GB'],
  ['10de:20b5', 'NVIDIA A100 PCIe 80GB'],
  ['10de:20f1', 'NVIDIA A100 PCIe 40GB'],
  ['10de:26b5', 'NVIDIA L40'],
  ['10de:26b9', 'NVIDIA L40S'],
  ['10de:27b8', 'NVIDIA L4'],
  ['10de:1eb8', 'NVIDIA Tesla T4'],
  ['10de:1db4', 'NVIDIA Tesla V100 PCIe 16GB'],
  ['1002:738c', 'AMD Instinct MI100'],
  ['1002:7408', 'AMD Instinct MI250X'],
  ['1002:740c', 'AMD Instinct MI250X/MI250'],
  ['1002:740f', 'AMD Instinct MI210'],
  ['1002:74a0', 'AMD Instinct MI300A'],
  ['1002:74a1', 'AMD Instinct MI300X'],
  ['1002:74a5', 'AMD Instinct MI325X'],
  ['1002:74b5', 'AMD Instinct MI300X VF'],
]);

export function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
