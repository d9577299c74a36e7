import { isWorkerEventKind, WORKER_EVENT_KINDS, type WorkerEventKind } from './worker-event.js';

/** A wrong --since, --kind or query parameter: the sentence says what is accepted. */
export class EventFilterError extends Error {
  override name = 'EventFilterError';
}

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since` / `?since=`: a duration back from now (`90s`, `30m`, `2h`, `7d`)
 * or an ISO 8601 time (`2026-12-07T08:00:00Z`).
 */
export function parseSince(text: string, nowMs: number): Date {
  const trimmed = text.trim();
  const duration = /^(\d+)\s*([smhd])$/.exec(trimmed);
  // A time a Date can hold (±8.64e15 ms): a duration of 10^20 days is the user's mistake, not the database's.
  const valid = (at: Date): Date | undefined => (Number.isFinite(at.getTime()) ? at : undefined);
  const at =
    duration !== null
      ? valid(new Date(nowMs - Number(duration[1]) * (UNIT_MS[duration[2] as string] as number)))
      : /^\d{4}-\d{2}-\d{2}/.test(trimmed)
        ? valid(new Date(Date.parse(trimmed)))
        : undefined;
  if (at !== undefined) return at;
  throw new EventFilterError(`since must be a duration (90s, 30m, 2h, 7d) or an ISO 8601 time, got ${JSON.stringify(trimmed.slice(0, 40))}`);
}

/** `--kind a,b` (also repeated): each one of WORKER_EVENT_KINDS. */
export function parseKinds(values: readonly string[]): WorkerEventKind[] {
  const kinds = values.flatMap((value) => value.split(',')).map((kind) => kind.trim()).filter((kind) => kind !== '');
  for (const kind of kinds) {
    if (!isWorkerEventKind(kind)) throw new EventFilterError(`unknown event kind ${JSON.stringify(kind.slice(0, 40))}; kinds: ${WORKER_EVENT_KINDS.join(', ')}`);
  }
  return kinds as WorkerEventKind[];
}
