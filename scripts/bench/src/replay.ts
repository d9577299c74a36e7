import { Long, type Db, type Document } from 'mongodb';
import type { RecordedCommand } from './wire-proxy.js';

/**
 * The raw-driver baseline: the commands the master sent during the steady
 * window, issued again one after another by a bare MongoClient (db.command)
 * with nothing else running. Timestamps in $set are refreshed (Long → now in
 * seconds, Date → now): FerretDB skips a write that changes nothing, and the
 * master's writes did change the documents.
 */
export interface ReplayResult {
  byCommand: Record<string, { count: number; totalMs: number }>;
  skipped: number;
  errors: number;
}

const SESSION_FIELDS = new Set(['lsid', 'txnNumber', 'autocommit', 'startTransaction']);

function isBson(value: unknown, type: string): boolean {
  return typeof value === 'object' && value !== null && (value as { _bsontype?: unknown })._bsontype === type;
}

function refreshed(set: Document): Document {
  const out: Document = {};
  for (const [key, value] of Object.entries(set)) {
    if (value instanceof Date) out[key] = new Date();
    else if (isBson(value, 'Long')) out[key] = Long.fromNumber(Math.floor(Date.now() / 1000));
    else out[key] = value as unknown;
  }
  return out;
}

function forReplay(recorded: RecordedCommand): Document | undefined {
  // A getMore names a cursor of the master's connection; there is nothing to replay it against.
  if (recorded.name === 'getMore' || recorded.name === 'killCursors') return undefined;
  const command: Document = {};
  for (const [key, value] of Object.entries(recorded.command)) {
    if (key.startsWith('$') || SESSION_FIELDS.has(key)) continue;
    command[key] = value as unknown;
  }
  if (recorded.name === 'update' && Array.isArray(command.updates)) {
    command.updates = (command.updates as Document[]).map((u) => {
      const update = u.u as Document | undefined;
      if (update?.$set === undefined) return u;
      return { ...u, u: { ...update, $set: refreshed(update.$set as Document) } };
    });
  }
  return command;
}

export async function replay(db: Db, commands: readonly RecordedCommand[]): Promise<ReplayResult> {
  const result: ReplayResult = { byCommand: {}, skipped: 0, errors: 0 };
  for (const recorded of commands) {
    const command = forReplay(recorded);
    if (command === undefined) {
      result.skipped += 1;
      continue;
    }
    const t0 = performance.now();
    try {
      await db.command(command);
    } catch {
      result.errors += 1;
      continue;
    }
    const ms = performance.now() - t0;
    const s = result.byCommand[recorded.name] ?? { count: 0, totalMs: 0 };
    s.count += 1;
    s.totalMs += ms;
    result.byCommand[recorded.name] = s;
  }
  return result;
}
