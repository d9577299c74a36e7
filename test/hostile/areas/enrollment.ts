import { randomBytes } from 'node:crypto';
import { ENROLLMENT_PROTOCOL_VERSION, HEADERS, NOT_ADMITTED, enrollAuthorization } from '@cluster/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { createEnrollmentTokenStore } from '../../../packages/master/src/registry/enrollment-token-store.js';
import { collector } from '../support/collector.js';
import { LOOPBACK, rawExchange, upgradeRequest, type RawResult } from '../support/raw-http.js';
import type { Snapshot } from '../support/snapshot.js';
import type { World } from '../support/world.js';

const AREA = 'enrollment';

function bodyOf(r: RawResult): string {
  const at = r.response.indexOf('\r\n\r\n');
  return at === -1 ? '' : r.response.slice(at + 4);
}

/** An enrollment upgrade as bytes: protocol 3 and `Authorization: Enroll <token>`. */
function enrollRequest(workerId: string, authorization: string, version = String(ENROLLMENT_PROTOCOL_VERSION)): string {
  return upgradeRequest({ workerId, omitVersion: true, extra: [`${HEADERS.protocolVersion}: ${version}`, `${HEADERS.authorization}: ${authorization}`] });
}

/** A real enrollment with ws: the `enrolled` message's token, or the refusal's status. */
function enrollWs(url: string, workerId: string, token: string): Promise<{ token?: string; status?: number; ws?: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(new URL('/agent', url).href, {
      headers: { [HEADERS.workerId]: workerId, [HEADERS.protocolVersion]: String(ENROLLMENT_PROTOCOL_VERSION), [HEADERS.authorization]: enrollAuthorization(token) },
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.on('message', (data: Buffer) => resolve({ token: (JSON.parse(data.toString('utf8')) as { token: string }).token, ws }));
    ws.on('error', () => resolve({}));
  });
}

/**
 * The enrollment path (protocol 3) under attack: replayed, truncated and
 * oversized enrollments, an enrollment token used as a worker token and the
 * reverse. Refusals write nothing and count as failed authentications; a
 * replay of a successful enrollment gets no second credential.
 */
export function enrollmentArea(getWorld: () => World): void {
  describe('10. enrollment: replayed, truncated, oversized, crossed tokens', () => {
    let w: World;
    let enrollToken: string;
    let workerToken: string;
    let before: Snapshot;

    beforeAll(async () => {
      w = getWorld();
      // Registered without a credential: what enrollment is for.
      for (const id of ['enr-1', 'enr-2', 'enr-3', 'enr-4']) await w.h.registry.registerWorker(id, '127.0.0.1');
      workerToken = await w.register('enr-has-token');
      const store = createEnrollmentTokenStore(w.h.db);
      enrollToken = collector.token((await store.issue({ patterns: ['enr-*'], ttlMs: 3_600_000, maxUses: null })).token, 'enrollment/token');
      before = await w.snap();
    });

    afterAll(async () => {
      await w.assertServing();
    });

    const refusals: [string, () => string, readonly number[], RegExp?][] = [
      ['an enrollment token used as a worker token (Bearer)', () => upgradeRequest({ workerId: 'enr-1', token: enrollToken }), [401], new RegExp(`^${NOT_ADMITTED}`)],
      ["a worker's token used as an enrollment token", () => enrollRequest('enr-1', enrollAuthorization(workerToken)), [401], new RegExp(`^${NOT_ADMITTED}`)],
      ['an enrollment in protocol version 2', () => enrollRequest('enr-1', enrollAuthorization(enrollToken), '2'), [400], /protocol version 3/],
      ['a truncated enrollment token', () => enrollRequest('enr-1', enrollAuthorization(enrollToken.slice(0, 10))), [401], /malformed/],
      ['an enrollment token of 300 characters', () => enrollRequest('enr-1', `Enroll ${'A'.repeat(300)}`), [401]],
      ['an oversized enrollment header (20 KB)', () => enrollRequest('enr-1', `Enroll ${'A'.repeat(20_000)}`), [400, 431]],
      ['an enrollment for an id outside the token\'s patterns', () => enrollRequest('w1', enrollAuthorization(enrollToken)), [403, 401]],
      ['an enrollment for a worker that has a token', () => enrollRequest('enr-has-token', enrollAuthorization(enrollToken)), [409]],
    ];

    test.each(refusals.map(([name, request, status, body]) => [name, request, status, body] as const))('%s: refused, nothing written', async (name, request, status, body) => {
      const mark = w.logMark();
      const result = await rawExchange(w.port, request(), { deadlineMs: 5_000 });
      collector.text(`enrollment answer: ${name}`, result.response);
      const diffs = await w.diff(AREA, before);
      collector.record(AREA, name, status.includes(result.status ?? 0) && diffs.length === 0, 'refusal', `status ${result.status}`);
      expect(status, `${name}: ${result.response.slice(0, 200)}`).toContain(result.status);
      if (body) expect(bodyOf(result)).toMatch(body);
      expect(diffs).toEqual([]);
      // Logged, or counted in the rate limit's summary line (10 lines a second; the areas before this one may have spent this second's).
      const logged = (l: { msg?: unknown }): boolean => l.msg === 'refused' || l.msg === 'refusals not logged (log rate limit)';
      if (result.status !== 431 && result.status !== 400) await w.waitLog(mark, logged, name, 3_000);
    });

    test('a truncated enrollment request (the head cut off, the connection closed) writes nothing', async () => {
      const full = enrollRequest('enr-1', enrollAuthorization(enrollToken));
      const result = await rawExchange(w.port, full.slice(0, full.length - 40), { deadlineMs: 3_000 });
      expect(result.status === undefined || result.status >= 400).toBe(true);
      expect(await w.diff(AREA, before)).toEqual([]);
    });

    test('an enrollment, then its replay: one credential, the replay refused 409', async () => {
      const first = await enrollWs(w.url, 'enr-1', enrollToken);
      expect(first, JSON.stringify({ status: first.status })).toHaveProperty('token');
      collector.token(first.token ?? '', 'enrollment/enr-1');
      first.ws?.close(1000);
      const after = await w.snap();
      const replay = await rawExchange(w.port, enrollRequest('enr-1', enrollAuthorization(enrollToken)), { deadlineMs: 5_000 });
      expect(replay.status).toBe(409);
      expect(await w.diff(AREA, after)).toEqual([]);
    });

    test('five enrollments of one id at once: exactly one credential', async () => {
      const results = await Promise.all(Array.from({ length: 5 }, () => enrollWs(w.url, 'enr-2', enrollToken)));
      const granted = results.filter((r) => r.token !== undefined);
      for (const r of granted) collector.token(r.token ?? '', 'enrollment/enr-2');
      for (const r of results) r.ws?.close(1000, 'credential stored');
      expect(granted).toHaveLength(1);
      expect(results.filter((r) => r.status === 409)).toHaveLength(4);
      expect(await w.h.db.collection('WORKER_CREDENTIALS').countDocuments({ worker_id: 'enr-2' })).toBe(1);
    });

    test('on an enrollment connection, an oversized or any message from the agent ends it; the master stays up', async () => {
      const granted = await enrollWs(w.url, 'enr-3', enrollToken);
      expect(granted.token).toBeDefined();
      collector.token(granted.token ?? '', 'enrollment/enr-3');
      const ws = granted.ws!;
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      ws.send(randomBytes(20_000).toString('hex'));
      expect([1009, 4400, 4413, 1006]).toContain(await closed);
      await w.assertServing();
      // Not a confirmed enrollment: the credential is taken back.
      await expect.poll(() => w.h.db.collection('WORKER_CREDENTIALS').countDocuments({ worker_id: 'enr-3' }), { timeout: 5_000 }).toBe(0);
    });

    test('a credential taken and the connection dropped without the close 1000 that says it was stored: taken back, and the worker enrolls again', async () => {
      const dropped = await enrollWs(w.url, 'enr-4', enrollToken);
      expect(dropped.token).toBeDefined();
      collector.token(dropped.token ?? '', 'enrollment/enr-4');
      dropped.ws?.terminate();
      await expect.poll(() => w.h.db.collection('WORKER_CREDENTIALS').countDocuments({ worker_id: 'enr-4' }), { timeout: 5_000 }).toBe(0);
      const again = await enrollWs(w.url, 'enr-4', enrollToken);
      expect(again, JSON.stringify({ status: again.status })).toHaveProperty('token');
      collector.token(again.token ?? '', 'enrollment/enr-4');
      again.ws?.close(1000, 'credential stored');
      await expect.poll(() => w.h.db.collection('WORKER_CREDENTIALS').countDocuments({ worker_id: 'enr-4' }), { timeout: 5_000 }).toBe(1);
    });

    test('the legitimate agents were served throughout, and the enrollment token never reached a log', async () => {
      await w.assertServing();
      expect(w.m.rawLogs.join('')).not.toContain(enrollToken);
      expect(LOOPBACK).toBe('127.0.0.1');
    });
  });
}
