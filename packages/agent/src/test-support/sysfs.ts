import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * Builds a /sys/bus/pci/devices look-alike from a recorded listing
 * (`address class vendor device [mem_info_vram_total]` a line), so the real
 * sysfs reader runs against it.
 */
export async function writeSysfs(listing: string): Promise<{ root: string } & AsyncDisposable> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'agent-sysfs-'));
  for (const line of listing.split('\n')) {
    const [address, cls, vendor, device, vram] = line.trim().split(/\s+/);
    if (!address || !cls || !vendor || !device) continue;
    const dir = path.join(root, address);
    await mkdir(dir);
    await writeFile(path.join(dir, 'class'), `${cls}\n`);
    await writeFile(path.join(dir, 'vendor'), `${vendor}\n`);
    await writeFile(path.join(dir, 'device'), `${device}\n`);
    if (vram) await writeFile(path.join(dir, 'mem_info_vram_total'), `${vram}\n`);
  }
  return {
    root,
    [Symbol.asyncDispose]: () => rm(root, { recursive: true, force: true }),
  };
}
