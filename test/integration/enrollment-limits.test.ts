import { ENROLLMENT_PROTOCOL_VERSION, HEADERS, enrollAuthorization } from '@cluster/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { createEnrollmentTokenStore } from '../../packages/master/src/registry/enrollment-token-store.js';
import { openHarness, type Harness } from './helpers/harness.js';

/**
 * Enrollment refusals are failed authentications (failure-limit.ts): an
 * address that keeps guessing enrollment tokens, or keeps presenting a real
 * one for ids it may not enroll, is answered 429 before any work, and a
 * guessed worker token after that too.
 */
let h: Harness;
let enrollToken: string;

beforeAll(async () => {
  h = await openHarness();
  await h.registry.registerWorker('e1', '127.0.0.1');
  enrollToken = (await createEnrollmentTokenStore(h.db).issue({ patterns: ['e*'], ttlMs: 60_000, maxUses: null })).token;
});
afterAll(async () => {
  await h.close();
});

function enroll(url: string, workerId: string, token: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(new URL('/agent', url).href, {
      headers: { [HEADERS.workerId]: workerId, [HEADERS.protocolVersion]: String(ENROLLMENT_PROTOCOL_VERSION), [HEADERS.authorization]: enrollAuthorization(token) },
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.close();
    });
    ws.on('error', () => resolve(0));
  });
}

describe('enrollment and the failure limit', () => {
  test('refused enrollments count per address; past the limit 429, even for a token that would work', async () => {
    const m = await h.startMaster({ failedAuthPerAddress: 4, failedAuthWindowMs: 60_000 });
    try {
      const statuses = [
        await enroll(m.url, 'e1', 'g'.repeat(43)),
        await enroll(m.url, 'e-unregistered', enrollToken),
        await enroll(m.url, 'x1', enrollToken),
        await enroll(m.url, 'e1', 'h'.repeat(43)),
        await enroll(m.url, 'e1', enrollToken),
      ];
      expect(statuses).toEqual([401, 401, 403, 401, 429]);
      expect(await h.db.collection('WORKER_CREDENTIALS').countDocuments()).toBe(0);
    } finally {
      await m.close();
    }
  });

  test('past failedAuthTotal, enrollments are answered 429 without reading the token', async () => {
    const m = await h.startMaster({ failedAuthPerAddress: 100, failedAuthTotal: 2, failedAuthWindowMs: 60_000 });
    try {
      const statuses = [await enroll(m.url, 'e1', 'g'.repeat(43)), await enroll(m.url, 'e1', 'h'.repeat(43)), await enroll(m.url, 'e1', enrollToken)];
      expect(statuses).toEqual([401, 401, 429]);
      expect(m.logs.filter((l) => l.msg === 'refused' && l.status === 429).map((l) => l.reason)).toEqual(['too many refused upgrades; enrollment paused, try again later']);
    } finally {
      await m.close();
    }
  });
});
