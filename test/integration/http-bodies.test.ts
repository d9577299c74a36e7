import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createAdminTokenStore } from '../../packages/master/src/registry/admin-token-store.js';
import { openHarness, type Harness, type RunningMaster } from './helpers/harness.js';
import { streamRequest } from './helpers/raw-http.js';

/**
 * Request bodies on every route of the master's port (request-body.ts): a
 * declared length over the limit is refused before it is read, a body that
 * grows past it while read is cut off; both answered 413 and closed, whatever
 * the route. Before this, `POST /login` kept every byte until the request
 * ended: 600 MiB killed the master.
 */
let h: Harness;
let m: RunningMaster;
const GiB = 1024 ** 3;
/** What a client may have sent when the answer comes: a few socket buffers, nowhere near the body. */
const SENT_BOUND = 8 * 1024 * 1024;

beforeAll(async () => {
  h = await openHarness();
  await createAdminTokenStore(h.db).issue();
  m = await h.startMaster({ maxBodyBytes: 1_024, requestTimeoutMs: 2_000 });
});
afterAll(async () => {
  await h.close();
});

const form = { 'Content-Type': 'application/x-www-form-urlencoded' };

describe('request bodies', () => {
  test.each(['/login', '/logout', '/api/workers', '/api/events', '/healthz', '/unknown'])(
    'POST %s declaring 1 GiB and sending it: 413 before the body is read, connection closed',
    async (path) => {
      const answer = await streamRequest({ port: m.port, method: 'POST', path, headers: { ...form, 'Content-Length': String(GiB) }, sendBytes: GiB, timeoutMs: 5_000 });
      expect(answer.status).toBe(413);
      expect(answer.text).toContain('request body too large');
      expect(answer.closed).toBe(true);
      expect(answer.sentBytes).toBeLessThan(SENT_BOUND);
    },
  );

  test('POST /login chunked without an end: cut off at the limit, 413, connection closed', async () => {
    const answer = await streamRequest({ port: m.port, method: 'POST', path: '/login', headers: form, chunked: true, sendBytes: GiB, timeoutMs: 5_000 });
    expect(answer.status).toBe(413);
    expect(answer.closed).toBe(true);
    expect(answer.sentBytes).toBeLessThan(SENT_BOUND);
  });

  test('POST /login with a declared length under the limit that never arrives: dropped by the request timeout, not held', async () => {
    const answer = await streamRequest({ port: m.port, method: 'POST', path: '/login', headers: { ...form, 'Content-Length': '1000' }, sendBytes: 0, timeoutMs: 15_000 });
    // 408 from Node's request timeout (2 s here), and the socket closed.
    expect(answer.closed).toBe(true);
  });

  test('the refusals are logged and counted; a sign-in form of normal size still works', async () => {
    expect(m.logs.some((l) => l.reason === 'body_too_large')).toBe(true);
    const ok = await fetch(new URL('/login', m.http), { method: 'POST', headers: form, body: 'token=wrong-wrong-wrong-wrong', redirect: 'manual' });
    expect(ok.status).toBe(401);
    expect(await ok.text()).toContain('not accepted');
  });
});
