import type { CommandStartedEvent } from 'mongodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_TOKENS_COLLECTION, createAdminTokenStore } from '../../packages/master/src/registry/admin-token-store.js';
import { openHarness, type Harness, type RunningMaster } from './helpers/harness.js';
import { RawAgent } from './helpers/raw-agent.js';

/**
 * What unauthenticated clients can learn and what they cost: an unknown
 * worker id and a wrong token get the same answer, and floods of refused
 * upgrades and of guessed admin tokens cost a bounded number of database
 * reads (failure-limit.ts), counted here with the driver's command monitoring.
 */
let h: Harness;
let adminToken: string;
let workerToken: string;

beforeAll(async () => {
  h = await openHarness();
  adminToken = (await createAdminTokenStore(h.db).issue()).token;
  workerToken = await h.register('w1');
});
afterAll(async () => {
  await h.close();
});

/** Every find the master sends, with its collection. */
function finds(m: RunningMaster): { collection: string; atMs: number }[] {
  const seen: { collection: string; atMs: number }[] = [];
  m.client.on('commandStarted', (event: CommandStartedEvent) => {
    if (event.commandName === 'find') seen.push({ collection: String((event.command as { find?: unknown }).find), atMs: performance.now() });
  });
  return seen;
}

const guess = (i: number): string => `guess${String(i).padStart(40, '0')}`;

describe('refused upgrades', () => {
  test('an unknown id and a wrong token get the same status and body; the log says which', async () => {
    const m = await h.startMaster();
    try {
      const unknown = await RawAgent.refused(m.url, { workerId: 'nobody', token: workerToken });
      const wrong = await RawAgent.refused(m.url, { workerId: 'w1', token: 'x'.repeat(43) });
      expect(unknown).toEqual(wrong);
      expect(unknown).toEqual({ status: 401, body: 'unknown worker or invalid token' });
      const reasons = m.logs.filter((l) => l.msg === 'refused').map((l) => l.reason);
      expect(reasons).toEqual(expect.arrayContaining(['unknown worker', 'invalid token']));
    } finally {
      await m.close();
    }
  });

  test('an address past failedAuthPerAddress is answered 429 before any work', async () => {
    const m = await h.startMaster({ failedAuthPerAddress: 5, failedAuthWindowMs: 60_000 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) statuses.push((await RawAgent.refused(m.url, { workerId: `nobody-${i}`, token: workerToken })).status);
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
      // Another address is not held for it.
      expect(await RawAgent.connect(m.url, { workerId: 'w1', token: workerToken, localAddress: '127.0.0.2' })).toBeInstanceOf(RawAgent);
    } finally {
      await m.close();
    }
  });

  test('a flood of unknown ids past failedAuthTotal costs no re-read of the view', async () => {
    const m = await h.startMaster({ failedAuthTotal: 20, failedAuthWindowMs: 60_000, missRefreshMinIntervalMs: 100, viewRefreshMs: 5_000, viewFullRefreshMs: 600_000 });
    const seen = finds(m);
    try {
      const from = performance.now();
      // 2 s of refused upgrades, 20 at a time: with a re-read every 100 ms that would be about 20 re-reads of both collections.
      let sent = 0;
      while (performance.now() - from < 2_000) {
        const batch = await Promise.all(Array.from({ length: 20 }, (_, i) => RawAgent.refused(m.url, { workerId: `ghost-${sent + i}`, token: workerToken })));
        sent += batch.length;
        expect(batch.every((r) => r.status === 401 && r.body === 'unknown worker or invalid token')).toBe(true);
      }
      const registryReads = seen.filter((f) => f.atMs >= from && f.collection === 'WORKER_REGISTRY').length;
      console.log(`unknown-id flood: ${sent} refused upgrades in 2 s, ${registryReads} reads of WORKER_REGISTRY`);
      // The first 20 failures may each wait for a re-read (spaced 100 ms); then none.
      expect(registryReads).toBeLessThanOrEqual(4);
      // A registered worker still gets in.
      expect(await RawAgent.connect(m.url, { workerId: 'w1', token: workerToken })).toBeInstanceOf(RawAgent);
    } finally {
      await m.close();
    }
  });
});

describe('guessed admin tokens', () => {
  test('a flood past failedAuthTotal costs no database read per guess; a token that passed before still works', async () => {
    const m = await h.startMaster({ failedAuthTotal: 20, failedAuthWindowMs: 60_000 });
    const seen = finds(m);
    try {
      const ok = await fetch(`${m.http}/api/workers`, { headers: { Authorization: `Bearer ${adminToken}` } });
      expect(ok.status).toBe(200);
      const from = performance.now();
      const statuses = new Map<number, number>();
      for (let i = 0; i < 200; i += 20) {
        const answers = await Promise.all(Array.from({ length: 20 }, (_, j) => fetch(`${m.http}/api/workers`, { headers: { Authorization: `Bearer ${guess(i + j)}` } })));
        for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      }
      const tokenReads = seen.filter((f) => f.atMs >= from && f.collection === ADMIN_TOKENS_COLLECTION).length;
      console.log(`guessed admin tokens: 200 guesses, ${tokenReads} reads of ${ADMIN_TOKENS_COLLECTION}, answers ${JSON.stringify(Object.fromEntries(statuses))}`);
      expect(tokenReads).toBeLessThanOrEqual(20);
      expect(statuses.get(401)).toBe(20);
      expect(statuses.get(429)).toBe(180);
      const still = await fetch(`${m.http}/api/workers`, { headers: { Authorization: `Bearer ${adminToken}` } });
      expect(still.status).toBe(200);
    } finally {
      await m.close();
    }
  });

  test('a burst of parallel guesses from one address is looked up at most failedAuthPerAddress times', async () => {
    const m = await h.startMaster({ failedAuthPerAddress: 10, failedAuthWindowMs: 60_000 });
    const seen = finds(m);
    try {
      const from = performance.now();
      // All sent at once: each is checked before any lookup has ended and been counted.
      const statuses = await Promise.all(
        Array.from({ length: 60 }, (_, i) => fetch(`${m.http}/api/workers`, { headers: { Authorization: `Bearer ${guess(1_000 + i)}` } }).then(async (a) => (await a.text(), a.status))),
      );
      const tokenReads = seen.filter((f) => f.atMs >= from && f.collection === ADMIN_TOKENS_COLLECTION).length;
      console.log(`parallel guesses: 60 at once, ${tokenReads} reads of ${ADMIN_TOKENS_COLLECTION}`);
      expect(tokenReads).toBeLessThanOrEqual(10);
      expect(statuses.filter((s) => s === 401)).toHaveLength(10);
      expect(statuses.filter((s) => s === 429)).toHaveLength(50);
    } finally {
      await m.close();
    }
  });

  test('an address past failedAuthPerAddress is answered 429 (the sign-in form says so)', async () => {
    const m = await h.startMaster({ failedAuthPerAddress: 3, failedAuthWindowMs: 60_000 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const answer = await fetch(`${m.http}/login`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `token=${guess(i)}` });
        statuses.push(answer.status);
        if (answer.status === 429) expect(await answer.text()).toContain('too many refused credentials; try again later');
        else await answer.text();
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
    } finally {
      await m.close();
    }
  });
});
