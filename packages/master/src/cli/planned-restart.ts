import { readFile } from 'node:fs/promises';

/**
 * The planned-restart marker: a file whose one line is a deadline in Unix
 * seconds. Whoever restarts the master on purpose writes it before the
 * restart and removes it after (the package's postinst on an upgrade,
 * `cluster-master restart`); the master that is stopping reads it when the
 * stop request comes. A marker whose deadline has passed is a leftover (the
 * restart was interrupted before removing it) and is ignored, so a later stop
 * is a stop again. /run is a tmpfs: a reboot clears it too.
 */
export const RESTART_MARKER_PATH = '/run/cluster-master/planned-restart';
/** The environment variable that moves the marker (a master run outside the unit, tests). */
export const RESTART_MARKER_ENV = 'MASTER_RESTART_MARKER';
/** How long a marker written now stays valid: a restart that takes longer is treated as a stop. */
export const RESTART_MARKER_VALID_MS = 120_000;

/** True when the marker's content is a deadline still ahead of `nowMs`. */
export function markerMeansRestart(content: string, nowMs: number): boolean {
  const text = content.trim();
  if (!/^\d{1,12}$/.test(text)) return false;
  return Number(text) * 1000 > nowMs;
}

/** The marker's content for a restart beginning at `nowMs`. */
export function markerContent(nowMs: number): string {
  return `${Math.ceil((nowMs + RESTART_MARKER_VALID_MS) / 1000)}\n`;
}

/** Reads the marker; absent, unreadable or stale: not a planned restart. */
export async function plannedRestartRequested(path: string, nowMs: number): Promise<boolean> {
  try {
    return markerMeansRestart(await readFile(path, 'utf8'), nowMs);
  } catch {
    return false;
  }
}
