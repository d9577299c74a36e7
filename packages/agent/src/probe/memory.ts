import si from 'systeminformation';

export interface MemoryReport {
  /** GiB (2^30 bytes) of MemTotal, two decimals. */
  total_memory: number;
  bytes: number;
}

export const GIB = 2 ** 30;

/**
 * systeminformation is right here: on Linux `mem().total` is /proc/meminfo
 * MemTotal × 1024, read with an asynchronous `fs.readFile`, and
 * `os.totalmem()` elsewhere. MemTotal is what the kernel manages, a little
 * below the installed DIMMs (firmware and kernel reservations).
 */
export async function probeMemory(totalBytes: () => Promise<number> = async () => (await si.mem()).total): Promise<MemoryReport> {
  const bytes = await totalBytes();
  return { total_memory: round2(bytes / GIB), bytes };
}

export function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
