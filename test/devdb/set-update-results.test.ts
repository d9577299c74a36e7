import { BSON, Double, Int32, Long, ObjectId, type Collection, type Document, type UpdateResult } from 'mongodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.js';

/**
 * The dev database runs an updateMany that is a plain $set of top-level
 * scalars as SQL (json_set) when it can do so exactly, and FerretDB's own path
 * otherwise. Every update here runs on two identical collections: as given on
 * one, wrapped in {$and: [filter]} on the other, which the SQL path never
 * takes, so FerretDB's own path decides there. The counts must be the same and
 * the documents byte for byte the same BSON (types, values, key order).
 * The stored values mix the types the SQL path must leave alone (other types,
 * arrays, null, a missing field) with the ones it takes.
 */
const D1 = new Date('2025-10-15T10:35:00Z');
const D2 = new Date('2025-10-15T10:36:07.123Z');

const stored: unknown[] = [
  new Int32(5),
  Long.fromNumber(5),
  new Double(5),
  new Double(0),
  new Double(-0),
  new Double(1e21),
  Long.fromString('1152921504606846976'),
  new Double(2 ** 60),
  '5',
  'a<b',
  'grüße 😀 \u2028',
  true,
  false,
  null,
  new Date(5),
  D1,
  new ObjectId('65a1b2c3d4e5f60718293a4b'),
  [new Int32(5)],
  ['a<b'],
  [],
  { a: new Int32(5) },
];
const MISSING = stored.length; // the document without v

const setValues: unknown[] = [
  new Int32(5),
  new Int32(7),
  Long.fromNumber(5),
  Long.fromString('1152921504606846976'),
  new Double(5),
  new Double(-0),
  new Double(0),
  new Double(1e21),
  new Double(2 ** 60),
  'a<b',
  'grüße 😀 \u2028',
  'new "quoted" \\ value',
  true,
  false,
  new Date(5),
  D2,
  null,
  [new Int32(5)],
];

const oid = (i: number) => new ObjectId(`65a1b2c3d4e5f6071829${String(i).padStart(4, '0')}`);

function seed(): Document[] {
  const docs: Document[] = stored.map((v, i) => ({
    _id: oid(i),
    k: `d${i}`,
    v,
    n: Long.fromNumber(i),
    on: i % 3 !== 0,
    at: new Date(1000 * i),
    s: 'x',
    tail: new Int32(i),
  }));
  docs.push({ _id: oid(MISSING), k: `d${MISSING}`, n: Long.fromNumber(MISSING), on: true, at: new Date(0), s: 'x', tail: new Int32(0) });
  return docs;
}

let t: TestDatabase;
let fast: Collection;
let slow: Collection;

beforeAll(async () => {
  t = await openTestDatabase('set_update');
  fast = t.db.collection('set_fast');
  slow = t.db.collection('set_slow');
  for (const c of [fast, slow]) {
    await c.createIndex({ k: 1 }, { unique: true });
    await c.createIndex({ on: 1 });
    await c.createIndex({ n: 1 });
  }
});

afterAll(async () => {
  await t.close();
});

beforeEach(async () => {
  for (const c of [fast, slow]) {
    await c.deleteMany({});
    await c.insertMany(seed());
  }
});

const counts = (r: UpdateResult) => ({ matched: r.matchedCount, modified: r.modifiedCount });

/** Runs the update both ways; returns the counts (the same both ways, or the test fails). */
async function both(filter: Document, update: Document): Promise<{ matched: number; modified: number }> {
  const a = counts(await fast.updateMany(filter, update));
  const b = counts(await slow.updateMany({ $and: [filter] }, update));
  expect(a, JSON.stringify({ filter, update })).toEqual(b);
  return a;
}

const raw = async (c: Collection) => (await c.find({}, { sort: { _id: 1 }, raw: true }).toArray()) as unknown as Buffer[];

async function expectSameDocuments(): Promise<void> {
  const [a, b] = [await raw(fast), await raw(slow)];
  const readable = (docs: Buffer[]) => docs.map((d) => BSON.deserialize(d, { promoteValues: false }));
  expect(readable(a)).toEqual(readable(b));
  expect(a.map((d) => d.toString('hex'))).toEqual(b.map((d) => d.toString('hex')));
}

describe('updateMany $set in SQL and through FerretDB', () => {
  it.each(setValues.map((v) => [v === null ? "null" : JSON.stringify(BSON.EJSON.serialize({ v }, { relaxed: false })), v]))(
    'sets v to %s over every stored type, one document at a time',
    async (_label, value) => {
      for (let i = 0; i <= MISSING; i++) await both({ k: `d${i}` }, { $set: { v: value } });
      await expectSameDocuments();
    },
  );

  it('the heartbeat shape: $in of ids, several fields; again with the same values modifies nothing', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `d${i}`);
    const update = { $set: { n: Long.fromNumber(1_760_524_567), on: true, at: D2 } };
    expect(await both({ k: { $in: ids } }, update)).toEqual({ matched: 10, modified: 10 });
    expect(await both({ k: { $in: ids } }, update)).toEqual({ matched: 10, modified: 0 });
    expect(await both({ k: { $in: [...ids, 'nobody'] } }, { $set: { on: true } })).toEqual({ matched: 10, modified: 0 });
    await expectSameDocuments();
  });

  it('the sweep and inactive-flag shapes: a flag and a range on a long', async () => {
    // on is false for i = 0, 3, 6, ... (8 of 22); n < 10: i = 0..9, of which 6 are on.
    expect(await both({ on: true, n: { $lt: 10 } }, { $set: { on: false, at: D2 } })).toEqual({ matched: 6, modified: 6 });
    expect(await both({ k: { $in: ['d10', 'd11', 'd12'] }, n: { $lte: Long.fromNumber(11) }, on: true }, { $set: { on: false, at: D2 } })).toEqual({
      matched: 2,
      modified: 2,
    });
    await expectSameDocuments();
  });

  it('a field missing in one matched document, or of another type: FerretDB adds or retypes it', async () => {
    expect(await both({ k: { $in: ['d1', `d${MISSING}`] } }, { $set: { v: new Int32(9) } })).toEqual({ matched: 2, modified: 2 });
    expect(await both({}, { $set: { added: true } })).toEqual({ matched: MISSING + 1, modified: MISSING + 1 });
    expect(await both({ k: { $in: ['d0', 'd1'] } }, { $set: { tail: Long.fromNumber(0) } })).toEqual({ matched: 2, modified: 2 });
    await expectSameDocuments();
  });

  it('equality across number types, arrays holding the value, dates, ObjectIds and an empty filter', async () => {
    // v == 5: int 5, long 5, double 5 and the array [5].
    expect(await both({ v: new Int32(5) }, { $set: { s: 'five' } })).toEqual({ matched: 4, modified: 4 });
    expect(await both({ k: { $in: ['d0', 'd1', 'd2'] }, v: new Double(5) }, { $set: { s: 'five!' } })).toEqual({ matched: 3, modified: 3 });
    expect(await both({ v: 'a<b' }, { $set: { s: 'text' } })).toEqual({ matched: 2, modified: 2 });
    expect(await both({ at: { $lt: new Date(3000) } }, { $set: { s: 'early' } })).toEqual({ matched: 4, modified: 4 });
    expect(await both({ _id: { $in: [oid(3), oid(4)] } }, { $set: { s: 'by id' } })).toEqual({ matched: 2, modified: 2 });
    expect(await both({}, { $set: { s: 'all' } })).toEqual({ matched: MISSING + 1, modified: MISSING + 1 });
    await expectSameDocuments();
  });

  it('filters and updates it does not take: $or, $ne, $exists, dotted paths, other operators', async () => {
    await both({ k: { $in: ['d1', 'd2', 'd4'] }, $or: [{ n: { $lt: 2 } }, { n: { $gt: 3 } }] }, { $set: { s: 'or' } });
    await both({ k: { $ne: 'd1' } }, { $set: { s: 'ne' } });
    await both({ v: { $exists: false } }, { $set: { s: 'none' } });
    await both({ 'v.a': 5 }, { $set: { s: 'dotted' } });
    await both({ n: { $lt: new Double(3.5) } }, { $set: { s: 'double bound' } });
    await both({ k: 'd20' }, { $set: { 'v.x': 1 } });
    await both({ k: { $in: ['d1', 'd2'] } }, { $set: { s: 'y' }, $inc: { tail: 1 } });
    await both({ k: { $in: ['d1', 'd2'] } }, { $set: { nested: { a: 1 } } });
    // A field in a unique index: the second document's duplicate fails the statement.
    await expect(fast.updateMany({ k: { $in: ['d1', 'd2'] } }, { $set: { k: 'dup' } })).rejects.toThrow();
    await expect(slow.updateMany({ $and: [{ k: { $in: ['d1', 'd2'] } }] }, { $set: { k: 'dup' } })).rejects.toThrow();
    await expectSameDocuments();
  });

  it('keeps BSON types and key order, and the new values are found by equality afterwards', async () => {
    const special = 'a<b & "c" \u2028 😀';
    await both({ k: { $in: ['d1', 'd2'] } }, { $set: { n: Long.fromNumber(42), at: D2, s: special, on: false } });
    const doc = await fast.findOne({ k: 'd1' }, { promoteLongs: false });
    expect(Object.keys(doc ?? {})).toEqual(['_id', 'k', 'v', 'n', 'on', 'at', 's', 'tail']);
    expect(doc?.n).toBeInstanceOf(Long);
    expect(String(doc?.n)).toBe('42');
    expect(doc?.at).toEqual(D2);
    expect((await fast.find({ s: special }).toArray()).map((d) => String(d.k)).sort()).toEqual(['d1', 'd2']);
    expect((await fast.find({ n: Long.fromNumber(42) }).toArray()).map((d) => String(d.k)).sort()).toEqual(['d1', 'd2']);
    await expectSameDocuments();
  });
});
