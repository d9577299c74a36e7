import { Double, Int32, Long, ObjectId, type Collection, type Document } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { explainFind, isFerretDb, pushdownBuilt } from './explain.js';

/**
 * The pushdown may only narrow the rows read, never change an answer. Every
 * filter here runs twice on the same documents: as given (pushed down to SQL
 * on a dev database built with the pushdown) and wrapped in {$and: [filter]},
 * which no build pushes down, so FerretDB's own filter alone decides. Both must
 * give the same documents, through find and through updateMany. The values
 * mix what MongoDB treats as equal across types (int, long, double, -0),
 * what the SQLite text encoding could tell apart wrongly (large integers,
 * escapes in strings, dates stored as numbers), arrays, null and missing fields.
 */
const OID = new ObjectId('65a1b2c3d4e5f60718293a4b');
const TWO_53 = 2 ** 53;
const TWO_60 = 2 ** 60;

const values: [string, unknown][] = [
  ['int 5', new Int32(5)],
  ['long 5', Long.fromNumber(5)],
  ['double 5', new Double(5)],
  ['double 5.5', new Double(5.5)],
  ['double -5.5', new Double(-5.5)],
  ['int -5', new Int32(-5)],
  ['int 0', new Int32(0)],
  ['long 0', Long.fromNumber(0)],
  ['double -0', new Double(-0)],
  ['double 1e-7', new Double(1e-7)],
  ['double 1e21', new Double(1e21)],
  ['long 2^53+1', Long.fromString('9007199254740993')],
  ['double 2^53', new Double(TWO_53)],
  ['long 2^60', Long.fromString('1152921504606846976')],
  ['double 2^60', new Double(TWO_60)],
  ['long max', Long.MAX_VALUE],
  ['long min', Long.MIN_VALUE],
  ['int max', new Int32(2_147_483_647)],
  ['string 5', '5'],
  ['string a', 'a'],
  ['string html', '<a&b>'],
  ['string quote', 'say "hi"'],
  ['string backslash', 'back\\slash'],
  ['string unicode', 'grüße 😀'],
  ['string line separator', 'a\u2028b'],
  ['string control', 'tab\there\u0001'],
  ['string oid hex', OID.toHexString()],
  ['string [', '[x'],
  ['objectid', OID],
  ['true', true],
  ['false', false],
  ['null', null],
  ['date 5 ms', new Date(5)],
  ['date 2025', new Date('2025-10-15T10:35:00Z')],
  ['array 5 6', [new Int32(5), new Int32(6)]],
  ['array strings', ['a', 'b']],
  ['array empty', []],
  ['array bool', [true]],
  ['document', { a: new Int32(5) }],
];

const probes: unknown[] = [
  new Int32(5),
  Long.fromNumber(5),
  new Double(5),
  new Double(5.5),
  new Int32(-5),
  new Int32(0),
  new Double(-0),
  Long.fromString('9007199254740993'),
  new Double(TWO_53),
  Long.fromString('1152921504606846976'),
  new Double(TWO_60),
  Long.MAX_VALUE,
  new Double(1e21),
  new Double(1e-7),
  '5',
  'a',
  '<a&b>',
  'say "hi"',
  'back\\slash',
  'grüße 😀',
  'a\u2028b',
  'tab\there\u0001',
  OID.toHexString(),
  OID,
  true,
  false,
  new Date(5),
  new Date('2025-10-15T10:35:00Z'),
];

const rangeProbes: unknown[] = [
  new Int32(5),
  new Double(5.5),
  new Int32(0),
  new Double(-0),
  new Int32(-5),
  Long.fromString('9007199254740993'),
  new Double(TWO_60),
  Long.MAX_VALUE,
  new Double(1e21),
  new Date(5),
  new Date('2025-10-15T10:35:00Z'),
];

function filters(): Document[] {
  const out: Document[] = [];
  for (const p of probes) out.push({ v: p }, { v: { $eq: p } }, { v: p, flag: true });
  for (const op of ['$lt', '$lte', '$gt', '$gte']) {
    for (const p of rangeProbes) out.push({ v: { [op]: p } }, { flag: false, v: { [op]: p } });
  }
  out.push(
    { v: { $in: [new Int32(5), 'a', true] } },
    { v: { $in: [new Double(-0), new Double(5.5)] } },
    { v: { $in: [Long.fromString('1152921504606846976'), OID] } },
    { v: { $in: [] } },
    { v: { $in: [null, new Int32(5)] } },
    { v: { $in: [/^a/, 'x'] } },
    { v: { $in: ['<a&b>', 'say "hi"', 'back\\slash', 'grüße 😀', 'a\u2028b', 'tab\there\u0001', '[x'] } },
    { v: { $gt: new Int32(0), $lt: new Int32(6) } },
    { v: { $gte: new Int32(5), $in: [new Double(5), new Double(5.5)] } },
    { v: { $ne: new Int32(5) } },
    { v: null },
    { v: { a: new Int32(5) } },
    { v: [new Int32(5), new Int32(6)] },
    { missing: new Int32(5) },
    { missing: { $lt: new Int32(5) } },
    { _id: 'int 5' },
    { _id: { $in: ['int 5', 'true'] }, v: { $gte: new Int32(0) } },
    { label: { $in: ['int 5', 'long 5'] }, v: new Int32(5) },
    { flag: true, label: { $gt: 'd' } },
  );
  return out;
}

let t: TestDatabase;
interface Case {
  _id: string;
  label: string;
  v?: unknown;
  flag: boolean;
  hits: number;
}

let docs: Collection<Case>;
let ferret: boolean;

beforeAll(async () => {
  t = await openTestDatabase('pushdown_results');
  ferret = await isFerretDb(t.db);
  docs = t.db.collection<Case>('pushdown_cases');
  await docs.insertMany(values.map(([label, v], i) => ({ _id: label, label, v, flag: i % 2 === 0, hits: 0 })));
  await docs.insertOne({ _id: 'no v', label: 'no v', flag: true, hits: 0 });
  // The registry's kind of index, so the pushed-down conditions read through it.
  await docs.createIndex({ v: 1 });
  await docs.createIndex({ label: 1 }, { unique: true });
  await docs.createIndex({ flag: 1 });
});

afterAll(async () => {
  await t.close();
});

const ids = async (filter: Document) => (await docs.find(filter).toArray()).map((d) => String(d._id)).sort();

describe('results with and without the pushdown', () => {
  it('find and updateMany give the same documents for every filter', async () => {
    const mismatches: string[] = [];
    for (const filter of filters()) {
      const pushed = await ids(filter);
      const alone = await ids({ $and: [filter] });
      if (JSON.stringify(pushed) !== JSON.stringify(alone)) mismatches.push(`${JSON.stringify(filter)}: ${pushed.join()} vs ${alone.join()}`);
      const updated = await docs.updateMany(filter, { $inc: { hits: 1 } });
      if (updated.matchedCount !== alone.length) mismatches.push(`${JSON.stringify(filter)}: updateMany matched ${updated.matchedCount}, find ${alone.length}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('MongoDB equality across number types, -0, large integers and arrays', async () => {
    expect(await ids({ v: new Int32(5) })).toEqual(['array 5 6', 'double 5', 'int 5', 'long 5']);
    expect(await ids({ v: new Double(-0) })).toEqual(['double -0', 'int 0', 'long 0']);
    expect(await ids({ v: Long.fromString('1152921504606846976') })).toEqual(['double 2^60', 'long 2^60']);
    expect(await ids({ v: Long.fromString('9007199254740993') })).toEqual(['long 2^53+1']);
    expect(await ids({ v: 'a' })).toEqual(['array strings', 'string a']);
    expect(await ids({ v: 'a\u2028b' })).toEqual(['string line separator']);
    expect(await ids({ v: true })).toEqual(['array bool', 'true']);
    expect(await ids({ v: { $in: [new Int32(6), 'b'] } })).toEqual(['array 5 6', 'array strings']);
    expect(await ids({ v: { $in: ['<a&b>', 'back\\slash', 'tab\there\u0001'] } })).toEqual(['string backslash', 'string control', 'string html']);
  });

  it('ranges: numbers only, arrays by any element, not null or missing', async () => {
    expect(await ids({ v: { $lt: new Int32(0) } })).toEqual(['double -5.5', 'int -5', 'long min']);
    expect(await ids({ v: { $gt: new Int32(5), $lt: new Int32(6) } })).toEqual(['array 5 6', 'double 5.5']);
    expect(await ids({ v: { $lt: new Date(10) } })).toEqual(['date 5 ms']);
  });

  it('the dev database pushes the filters down and {$and: [...]} not', async () => {
    // MongoDB reports no filterPushdown: false on both.
    const expected = ferret && pushdownBuilt();
    for (const filter of [{ v: new Int32(5) }, { v: { $lt: new Int32(5) } }, { v: { $in: ['a', 'b'] } }]) {
      expect((await explainFind(t.db, 'pushdown_cases', filter)).filterPushdown, JSON.stringify(filter)).toBe(expected);
      expect((await explainFind(t.db, 'pushdown_cases', { $and: [filter] })).filterPushdown).toBe(false);
    }
  });
});
