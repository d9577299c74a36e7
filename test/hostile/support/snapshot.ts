import type { Specs } from '@cluster/protocol';
import { BSON, type Db, type Document } from 'mongodb';
import { COLLECTIONS } from '../../../packages/master/src/registry/collections.js';

/**
 * Every document of WORKER_REGISTRY and WORKER_CREDENTIALS, raw: read without
 * promoting BSON values, each field kept as canonical Extended JSON, so a
 * double turned Int32, an Int64 turned double, or a new field shows up.
 */
export type Snapshot = Map<string, Map<string, string>>;

const LIVENESS_FIELDS = new Set(['is_active', 'last_heartbeat', 'updated_at']);
const SPEC_FIELDS = new Set(['total_cpu', 'total_memory', 'total_storage', 'total_gpu']);

export async function snapshot(db: Db): Promise<Snapshot> {
  const out: Snapshot = new Map();
  for (const name of [COLLECTIONS.workers, COLLECTIONS.credentials]) {
    const docs = await db
      .collection(name)
      .find({}, { promoteValues: false, promoteLongs: false, promoteBuffers: false })
      .toArray();
    for (const doc of docs) {
      const id = typeof doc.worker_id === 'string' ? doc.worker_id : BSON.EJSON.stringify(doc.worker_id ?? doc._id);
      out.set(`${name}/${id}`, fields(doc));
    }
  }
  return out;
}

function fields(doc: Document): Map<string, string> {
  const map = new Map<string, string>();
  for (const [key, value] of Object.entries(doc)) map.set(key, BSON.EJSON.stringify({ v: value as unknown }, { relaxed: false }));
  return map;
}

/** The BSON type of a canonical field: "$numberDouble", "$numberLong", "$date", "bool" … */
function typeOfField(canonical: string): string {
  return /"v":\{"(\$\w+)"/.exec(canonical)?.[1] ?? (/"v":(true|false)/.test(canonical) ? 'bool' : '?');
}

function numberOf(canonical: string | undefined): number | undefined {
  if (canonical === undefined) return undefined;
  const parsed = BSON.EJSON.parse(canonical, { relaxed: true }) as { v: unknown };
  const v = parsed.v;
  if (typeof v === 'number') return v;
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

/**
 * The differences between two snapshots, in words; empty when none.
 *
 * `live` names workers whose own session legitimately moves their liveness
 * fields (the control agents, and attackers that were admitted and said a
 * valid hello). For those, is_active / last_heartbeat / updated_at may change,
 * but only forwards and without changing BSON type: is_active stays a boolean,
 * last_heartbeat an Int64 that never goes back, updated_at a date that never
 * goes back. `helloSpecs` names live workers whose first hello falls inside
 * the window: their spec fields may change, to exactly those specs. Every
 * other field of every document must be identical.
 */
export function diffSnapshots(
  before: Snapshot,
  after: Snapshot,
  live: ReadonlySet<string> = new Set(),
  helloSpecs: ReadonlyMap<string, Specs> = new Map(),
): string[] {
  const diffs: string[] = [];
  for (const key of before.keys()) if (!after.has(key)) diffs.push(`${key} was deleted`);
  for (const [key, now] of after) {
    const was = before.get(key);
    if (was === undefined) {
      diffs.push(`${key} was created: ${[...now.entries()].map(([k, v]) => `${k}=${v}`).join(' ')}`);
      continue;
    }
    const workerId = key.slice(key.indexOf('/') + 1);
    const isLive = key.startsWith(`${COLLECTIONS.workers}/`) && live.has(workerId);
    const specs = isLive ? helloSpecs.get(workerId) : undefined;
    for (const field of new Set([...was.keys(), ...now.keys()])) {
      const a = was.get(field);
      const b = now.get(field);
      if (specs !== undefined && SPEC_FIELDS.has(field)) {
        // Written by the worker's own valid hello: what it sent (0 and -0 alike), as a double.
        const want = specs[field as keyof Specs];
        const written = b !== undefined && typeOfField(b) === '$numberDouble' && numberOf(b) === want;
        if (b !== a && !written) diffs.push(`${key}.${field}: ${b ?? '(absent)'}, its hello said ${want}`);
        continue;
      }
      if (a === b) continue;
      if (isLive && LIVENESS_FIELDS.has(field) && a !== undefined && b !== undefined) {
        if (typeOfField(a) !== typeOfField(b)) {
          diffs.push(`${key}.${field} changed type: ${a} -> ${b}`);
        } else if (field !== 'is_active' && (numberOf(b) ?? 0) < (numberOf(a) ?? 0)) {
          diffs.push(`${key}.${field} went back: ${a} -> ${b}`);
        }
        continue;
      }
      diffs.push(`${key}.${field}: ${a ?? '(absent)'} -> ${b ?? '(absent)'}`);
    }
  }
  return diffs;
}
