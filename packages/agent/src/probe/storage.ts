import type { Timers } from '../timers.js';
import { round2 } from './memory.js';
import { runWithDeadline, type RunCommand } from './run-command.js';

/** One row of `lsblk -J`, normalised (old lsblk prints numbers and booleans as strings). */
export interface BlockDevice {
  name: string;
  type: string;
  size_bytes: number;
  removable: boolean;
  tran: string | null;
  model: string | null;
  children: BlockDevice[];
}

export interface CountedDisk {
  name: string;
  size_bytes: number;
  /** GB (10^9 bytes), two decimals. */
  size_gb: number;
  model: string | null;
  tran: string | null;
}

export interface SkippedDevice {
  name: string;
  why: string;
}

export interface StorageReport {
  /** GB (10^9 bytes) summed over the counted disks, two decimals. */
  total_storage: number;
  disks: CountedDisk[];
  skipped: SkippedDevice[];
}

export const GB = 1e9;

/** Columns that every lsblk since util-linux 2.27 (2015, the first with -J) knows. */
export const LSBLK_ARGS = ['-b', '-J', '-o', 'NAME,TYPE,SIZE,RM,TRAN,MODEL'] as const;

export function parseLsblkJson(text: string): BlockDevice[] {
  const json: unknown = JSON.parse(text);
  const list = (json as { blockdevices?: unknown } | null)?.blockdevices;
  if (!Array.isArray(list)) throw new Error('lsblk output has no "blockdevices" list');
  return list.map(toDevice);
}

function toDevice(raw: unknown): BlockDevice {
  const r = (raw ?? {}) as Record<string, unknown>;
  const children = Array.isArray(r.children) ? r.children.map(toDevice) : [];
  return {
    name: str(r.name) ?? '?',
    type: str(r.type) ?? '',
    size_bytes: num(r.size),
    removable: bool(r.rm),
    tran: str(r.tran),
    model: str(r.model)?.trim() ?? null,
    children,
  };
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}
function num(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) && n > 0 ? n : 0;
}
function bool(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 'true';
}

/** Whole devices that are not physical disks, by kernel name. */
const VIRTUAL_NAMES: readonly [RegExp, string][] = [
  [/^loop/, 'loop device'],
  [/^zram/, 'compressed RAM disk (zram)'],
  [/^ram/, 'RAM disk'],
  [/^nbd/, 'network block device'],
  [/^sr/, 'optical drive'],
  [/^fd/, 'floppy drive'],
  [/^md/, 'software RAID array (its member disks are counted)'],
  [/^dm-/, 'device-mapper device (its underlying disks are counted)'],
];

/**
 * Chooses the physical disks among lsblk's top-level devices and sums their
 * raw size. In the tree lsblk prints, partitions, RAID arrays, LVM volumes and
 * crypt devices are children of the disks they live on, so counting only
 * top-level disks counts each byte once: a RAID array is counted as its member
 * disks' raw capacity. Bind mounts and overlays are not block devices at all.
 * Paths of one multipath LUN are several disks with the same mpath child; the
 * LUN is counted once.
 */
export function selectPhysicalDisks(devices: readonly BlockDevice[]): StorageReport {
  const disks: CountedDisk[] = [];
  const skipped: SkippedDevice[] = [];
  const seenMultipath = new Map<string, string>();
  for (const d of devices) {
    const why = whyNotCounted(d);
    if (why !== undefined) {
      skipped.push({ name: d.name, why });
      continue;
    }
    const mpath = d.children.find((c) => c.type === 'mpath');
    if (mpath) {
      const first = seenMultipath.get(mpath.name);
      if (first !== undefined) {
        skipped.push({ name: d.name, why: `another path to multipath device ${mpath.name}, counted as ${first}` });
        continue;
      }
      seenMultipath.set(mpath.name, d.name);
    }
    disks.push({ name: d.name, size_bytes: d.size_bytes, size_gb: round2(d.size_bytes / GB), model: d.model, tran: d.tran });
  }
  const bytes = disks.reduce((n, d) => n + d.size_bytes, 0);
  return { total_storage: round2(bytes / GB), disks, skipped };
}

function whyNotCounted(d: BlockDevice): string | undefined {
  for (const [pattern, why] of VIRTUAL_NAMES) if (pattern.test(d.name)) return why;
  if (d.type === 'rom') return 'optical drive';
  if (d.type === 'loop') return 'loop device';
  if (d.type !== 'disk') return `not a disk (type ${d.type || 'unknown'})`;
  if (d.removable) return 'removable device';
  if (d.tran === 'usb') return 'USB device';
  if (d.size_bytes <= 0) return 'no medium or size 0';
  return undefined;
}

export interface StorageProbeDeps {
  run: RunCommand;
  timers: Timers;
  timeoutMs: number;
}

/** Runs lsblk asynchronously; undefined (with the reason) when it cannot. */
export async function probeStorage(deps: StorageProbeDeps): Promise<StorageReport | { error: string }> {
  const { result } = runWithDeadline(deps.run, 'lsblk', LSBLK_ARGS, deps.timeoutMs, deps.timers);
  const r = await result;
  if (!r.ok) return { error: r.message };
  try {
    return selectPhysicalDisks(parseLsblkJson(r.stdout));
  } catch (err) {
    return { error: `lsblk output not understood: ${(err as Error).message}` };
  }
}
