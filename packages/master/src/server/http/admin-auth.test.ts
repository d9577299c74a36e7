import type { IncomingMessage } from 'node:http';
import pino from 'pino';
import { describe, expect, test } from 'vitest';
import { FailureLimit } from '../admission/failure-limit.js';
import { ManualClock } from '../test-support/fakes.js';
import { AdminAuthLimit, authenticateAdmin } from './admin-auth.js';

/** A token store whose lookups end only when the test says so: the window in which parallel guesses meet. */
function heldStore(goodToken: string): { store: { verify: (t: string) => Promise<string | null>; isLive: () => Promise<boolean> }; lookups: () => number; release: () => void } {
  const pending: (() => void)[] = [];
  let lookups = 0;
  return {
    store: {
      verify: (token) => {
        lookups += 1;
        return new Promise((resolve) => pending.push(() => resolve(token === goodToken ? 'tok-1' : null)));
      },
      isLive: () => Promise.resolve(true),
    },
    lookups: () => lookups,
    release: () => {
      for (const end of pending.splice(0)) end();
    },
  };
}

const requestFrom = (address: string, token: string): IncomingMessage =>
  ({ socket: { remoteAddress: address }, url: '/api/workers', headers: { authorization: `Bearer ${token}` } }) as unknown as IncomingMessage;

function limitOf(perAddress: number, total: number): AdminAuthLimit {
  return new AdminAuthLimit(new FailureLimit({ clock: new ManualClock(), windowMs: 60_000, perAddress, total, maxAddresses: 100 }));
}

const silent = pino({ level: 'silent' });
const guess = (i: number): string => `guess${String(i).padStart(40, '0')}`;

/** authenticateAdmin as a route calls it, against this store and limit. */
const checkerOf =
  (store: ReturnType<typeof heldStore>['store'], limit: AdminAuthLimit) =>
  (address: string, token: string): ReturnType<typeof authenticateAdmin> =>
    authenticateAdmin(requestFrom(address, token), store, silent, undefined, undefined, limit);

/** Each answer's status, 200 for a pass. */
async function statusesOf(answers: ReturnType<typeof authenticateAdmin>[]): Promise<number[]> {
  return (await Promise.all(answers)).map((a) => (a.ok ? 200 : a.status));
}

describe('AdminAuthLimit: lookups in flight count as failures', () => {
  test('parallel guesses from one address: only perAddress are looked up, the rest answered 429 before any read', async () => {
    const { store, lookups, release } = heldStore('right');
    const check = checkerOf(store, limitOf(5, 1_000));
    const answers = Array.from({ length: 20 }, (_, i) => check('10.0.0.1', guess(i)));
    await new Promise((r) => setImmediate(r));
    expect(lookups()).toBe(5);
    release();
    const statuses = await statusesOf(answers);
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
  });

  test('parallel guesses from many addresses: only total are looked up; a token that passed before is still looked up', async () => {
    const { store, lookups, release } = heldStore('right');
    const check = checkerOf(store, limitOf(100, 8));
    const first = await Promise.all([check('10.0.0.9', 'right'), Promise.resolve(release())]);
    expect(first[0].ok).toBe(true);
    const answers = Array.from({ length: 30 }, (_, i) => check(`10.0.1.${i}`, guess(i)));
    const known = check('10.0.0.9', 'right');
    await new Promise((r) => setImmediate(r));
    expect(lookups()).toBe(1 + 8 + 1);
    release();
    expect((await known).ok).toBe(true);
    const statuses = await statusesOf(answers);
    expect(statuses.filter((s) => s === 401)).toHaveLength(8);
    expect(statuses.filter((s) => s === 429)).toHaveLength(22);
  });

  test('a lookup that ended frees its place: a right token after a wrong one is looked up', async () => {
    const { store, lookups, release } = heldStore('right');
    const check = checkerOf(store, limitOf(2, 1_000));
    const wrong = check('10.0.0.1', guess(0));
    const right = check('10.0.0.1', 'right');
    await new Promise((r) => setImmediate(r));
    release();
    expect(await wrong).toEqual({ ok: false, status: 401 });
    expect((await right).ok).toBe(true);
    // One failure recorded, none in flight: a third check is still looked up.
    const again = check('10.0.0.1', 'right');
    await new Promise((r) => setImmediate(r));
    release();
    expect((await again).ok).toBe(true);
    expect(lookups()).toBe(3);
  });
});
