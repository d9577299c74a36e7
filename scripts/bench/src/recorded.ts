import type { Document } from 'mongodb';
import type { RecordedCommand } from './wire-proxy.js';

/** What a recorded `update` command of the master was, from its first statement. */
export type WriteKind = 'heartbeat' | 'specs' | 'inactive' | 'sweep' | 'other';

function firstStatement(command: Document): { q: Document; set: Document } | undefined {
  const updates = command.updates as Document[] | undefined;
  const first = updates?.[0];
  const u = first?.u as Document | undefined;
  const set = u?.$set as Document | undefined;
  if (first === undefined || set === undefined) return undefined;
  return { q: (first.q as Document | undefined) ?? {}, set };
}

export function writeKind(recorded: RecordedCommand): WriteKind {
  if (recorded.name !== 'update') return 'other';
  const s = firstStatement(recorded.command);
  if (s === undefined) return 'other';
  if (s.set.last_heartbeat !== undefined) return 'heartbeat';
  if (s.set.total_cpu !== undefined) return 'specs';
  // Flags name their workers (one $in, or one $or branch per last written second); the sweep names none.
  if (s.set.is_active !== undefined) return (s.q.worker_id as Document | undefined)?.$in !== undefined || s.q.$or !== undefined ? 'inactive' : 'sweep';
  return 'other';
}

/** Worker ids in a heartbeat updateMany ($in), 0 for anything else. */
export function heartbeatIds(recorded: RecordedCommand): number {
  if (writeKind(recorded) !== 'heartbeat') return 0;
  const ids = ((firstStatement(recorded.command)?.q.worker_id as Document | undefined)?.$in as unknown[] | undefined) ?? [];
  return ids.length;
}

/** Gaps between the starts of consecutive heartbeat writes, ms. */
export function heartbeatWriteGaps(recorded: readonly RecordedCommand[]): number[] {
  const starts = recorded.filter((r) => writeKind(r) === 'heartbeat').map((r) => r.atMs);
  return starts.slice(1).map((t, i) => t - (starts[i] ?? t));
}
