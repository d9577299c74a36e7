import type { CommandStartedEvent } from 'mongodb';
import { request, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_TOKENS_COLLECTION, createAdminTokenStore } from '../../../packages/master/src/registry/admin-token-store.js';
import { waitFor } from '../../integration/helpers/harness.js';
import { RawAgent, isRefused } from '../../integration/helpers/raw-agent.js';
import { streamRequest } from '../../integration/helpers/raw-http.js';
import { collector } from '../support/collector.js';
import { MiB, mib } from '../support/memory.js';
import type { Snapshot } from '../support/snapshot.js';
import { HEARTBEAT_TIMEOUT_MS, openWorld, type World } from '../support/world.js';

const AREA = 'http';
const GiB = 1024 ** 3;
const KEEPALIVE_MS = 500;
/** What the HTTP attacks may add to the RSS of the process holding the master (and the attackers). */
const RSS_GROWTH_BOUND = 96 * MiB;
const ROUTES = ['/login', '/logout', '/api/workers', '/api/worker-events', '/api/events', '/api/sd', '/', '/healthz', '/metrics', '/agent', '/nope'];

/**
 * The master's HTTP side under attack: bodies of every size and
 * pace on every route, event streams that never read, outlive their token or
 * their session, or come past the cap, and floods of refused upgrades and
 * guessed admin tokens with the database commands they cost counted. Its own
 * master, with the product's limits (the main world's are lifted for the
 * other areas, which all come from one address) and a short keepalive.
 */
export function httpArea(): void {
  describe('the HTTP side: bodies, streams, floods', () => {
    let w: World;
    let before: Snapshot;
    let rssBefore = 0;
    let rssPeak = 0;
    let sampling: NodeJS.Timeout | undefined;
    let adminToken: string;
    let startedAt = 0;
    const finds: { collection: string; atMs: number }[] = [];

    beforeAll(async () => {
      w = await openWorld('http', {
        eventsKeepaliveMs: KEEPALIVE_MS,
        maxEventStreams: 8,
        maxEventStreamsPerToken: 4,
        failedAuthPerAddress: 30,
        failedAuthTotal: 100,
        failedAuthWindowMs: 10_000,
      });
      adminToken = collector.token((await createAdminTokenStore(w.h.db).issue()).token, 'http/admin');
      w.m.client.on('commandStarted', (event: CommandStartedEvent) => {
        if (event.commandName === 'find') finds.push({ collection: String((event.command as { find?: unknown }).find), atMs: performance.now() });
      });
      before = await w.snap();
      startedAt = performance.now();
      rssBefore = process.memoryUsage().rss;
      sampling = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
    }, 30_000);

    afterAll(async () => {
      clearInterval(sampling);
      await w?.close();
    });

    test('1 GiB declared and sent to every route: 413 before it is read, connection closed', { timeout: 60_000 }, async () => {
      for (const path of ROUTES) {
        const answer = await streamRequest({ port: w.port, method: 'POST', path, headers: { 'Content-Length': String(GiB) }, sendBytes: GiB, timeoutMs: 5_000 });
        const ok = answer.status === 413 && answer.closed && answer.sentBytes < 16 * MiB;
        collector.record(AREA, `1 GiB body to ${path}`, ok, 'refusal', `${answer.status}, ${mib(answer.sentBytes)} sent`);
        expect(ok, `${path}: ${answer.status}, closed ${answer.closed}, ${answer.sentBytes} bytes sent`).toBe(true);
      }
    });

    test('chunked without an end, to every route: cut off (413) or dropped, never held', { timeout: 60_000 }, async () => {
      for (const path of ROUTES) {
        const answer = await streamRequest({ port: w.port, method: 'POST', path, headers: {}, chunked: true, sendBytes: GiB, timeoutMs: 5_000 });
        // /login reads its body: cut at the limit. The others read none: answered, then closed (Connection: close).
        const ok = answer.closed && answer.status !== 0 && answer.sentBytes < 16 * MiB;
        collector.record(AREA, `endless chunked body to ${path}`, ok, 'refusal', `${answer.status}, ${mib(answer.sentBytes)} sent`);
        expect(ok, `${path}: ${answer.status}, closed ${answer.closed}, ${answer.sentBytes} bytes sent`).toBe(true);
      }
      const login = await streamRequest({ port: w.port, method: 'POST', path: '/login', headers: {}, chunked: true, sendBytes: GiB, timeoutMs: 5_000 });
      expect(login.status).toBe(413);
    });

    test('a slow body (declared, never finished) is dropped by the request timeout', { timeout: 15_000 }, async () => {
      const answer = await streamRequest({ port: w.port, method: 'POST', path: '/login', headers: { 'Content-Length': '900' }, sendBytes: 0, timeoutMs: 8_000 });
      collector.record(AREA, 'slow body', answer.closed, 'refusal', `${answer.status}`);
      expect(answer.closed).toBe(true);
    });

    function openStream(headers: Record<string, string>, read = true): Promise<{ status: number; res: IncomingMessage; ended: Promise<void>; body: () => string }> {
      return new Promise((resolve, reject) => {
        const req = request(`${w.m.http}/api/events`, { agent: false, headers }, (res) => {
          let body = '';
          const ended = new Promise<void>((r) => res.on('close', r));
          if (read) res.setEncoding('utf8').on('data', (c: string) => (body += c));
          else res.socket.pause();
          resolve({ status: res.statusCode ?? 0, res, ended, body: () => body });
        });
        req.on('error', reject);
        req.end();
      });
    }

    test('streams past the cap are refused with a reason; streams that never read cost a bounded amount', { timeout: 30_000 }, async () => {
      const bearer = { Authorization: `Bearer ${adminToken}` };
      const opened = [];
      for (let i = 0; i < 6; i++) opened.push(await openStream(bearer, false));
      const statuses = opened.map((o) => o.status);
      const ok = statuses.filter((s) => s === 200).length === 4 && statuses.filter((s) => s === 429).length === 2;
      collector.record(AREA, 'event streams past the per-token cap', ok, 'refusal', statuses.join(','));
      expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
      // The control agents' heartbeats change the fleet every refresh: events the streams do not read.
      // Closed after a keepalive without reading once their sockets fill; here the fleet is small, so they may still be open.
      await new Promise((r) => setTimeout(r, 3 * KEEPALIVE_MS));
      for (const o of opened) o.res.destroy();
    });

    test('a stream whose token is revoked, and one whose session signs out, end within one keepalive', { timeout: 20_000 }, async () => {
      const store = createAdminTokenStore(w.h.db);
      const issued = await store.issue();
      collector.token(issued.token, 'http/revoked');
      const stream = await openStream({ Authorization: `Bearer ${issued.token}` });
      expect(stream.status).toBe(200);
      await store.revoke(issued.token_id);
      const revokedAt = performance.now();
      await stream.ended;
      const revokedMs = performance.now() - revokedAt;

      const signIn = await fetch(`${w.m.http}/login`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `token=${adminToken}`, redirect: 'manual' });
      const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      const page = await openStream({ Cookie: cookie });
      expect(page.status).toBe(200);
      await fetch(`${w.m.http}/logout`, { method: 'POST', headers: { Cookie: cookie }, redirect: 'manual' });
      const signedOutAt = performance.now();
      await page.ended;
      const signedOutMs = performance.now() - signedOutAt;
      const ok = revokedMs < KEEPALIVE_MS + 500 && signedOutMs < KEEPALIVE_MS + 500;
      collector.record(AREA, 'stream of a revoked token / signed-out session ended', ok, 'refusal', `${Math.round(revokedMs)} ms, ${Math.round(signedOutMs)} ms`);
      collector.note(`http: a revoked token's stream ended ${Math.round(revokedMs)} ms after the revocation, a signed-out page's ${Math.round(signedOutMs)} ms after the sign-out (keepalive ${KEEPALIVE_MS} ms)`);
      expect(ok).toBe(true);
    });

    test('floods of unknown-id and wrong-token upgrades and guessed admin tokens cost O(1) database reads', { timeout: 60_000 }, async () => {
      const from = performance.now();
      const upgrades = [];
      for (let i = 0; i < 500; i += 50) {
        upgrades.push(...(await Promise.all(Array.from({ length: 50 }, (_, j) => RawAgent.connect(w.url, i % 100 === 0 ? { workerId: 'ctl-raw', token: 'x'.repeat(43) } : { workerId: `ghost-${i + j}`, token: 'y'.repeat(43) })))));
      }
      for (const r of upgrades) if (!isRefused(r)) r.destroy();
      const refused = upgrades.filter((r) => isRefused(r) && (r.status === 401 || r.status === 429)).length;
      const sameAnswer = upgrades.every((r) => isRefused(r) && (r.status === 429 || r.body === 'unknown worker or invalid token'));
      const upgradeReads = finds.filter((f) => f.atMs >= from && f.collection === 'WORKER_REGISTRY').length;
      collector.recordMany(AREA, 'refused upgrade flood', { refused, wrong: upgrades.length - refused });
      collector.record(AREA, 'unknown id and wrong token answered alike', sameAnswer, 'refusal');

      const guessesFrom = performance.now();
      const answers: number[] = [];
      for (let i = 0; i < 500; i += 50) {
        const batch = await Promise.all(
          Array.from({ length: 50 }, (_, j) => fetch(`${w.m.http}/api/workers`, { headers: { Authorization: `Bearer guess${String(i + j).padStart(40, '0')}` } }).then(async (r) => (await r.text(), r.status))),
        );
        answers.push(...batch);
      }
      const tokenReads = finds.filter((f) => f.atMs >= guessesFrom && f.collection === ADMIN_TOKENS_COLLECTION).length;
      const guessesRefused = answers.filter((s) => s === 401 || s === 429).length;
      collector.recordMany(AREA, 'guessed admin token flood', { refused: guessesRefused, wrong: answers.length - guessesRefused });
      collector.note(`http: 500 refused upgrades cost ${upgradeReads} reads of WORKER_REGISTRY; 500 guessed admin tokens cost ${tokenReads} reads of ${ADMIN_TOKENS_COLLECTION} (answers: ${answers.filter((s) => s === 401).length} x 401, ${answers.filter((s) => s === 429).length} x 429)`);
      // failedAuthPerAddress (30) guesses are looked up, then none; a few more are the streams' liveness reads (one per keepalive) still ending.
      const bounded = upgradeReads <= 10 && tokenReads <= 40;
      collector.record(AREA, 'flood database reads bounded', bounded, 'refusal', `${upgradeReads} view reads, ${tokenReads} token reads`);
      expect(sameAnswer).toBe(true);
      expect(bounded, `${upgradeReads} view reads, ${tokenReads} token reads`).toBe(true);
    });

    test('through it all: the master serves its agents, writes nothing wrong, and its process stays under the RSS bound', async () => {
      await w.assertServing();
      await waitFor('the control agent acked', () => w.ctl.ackTimes.length > 0);
      const gap = w.ctl.maxGapMs(startedAt);
      const diffs = await w.diff(AREA, before);
      const growth = rssPeak - rssBefore;
      collector.note(`http: process RSS ${mib(rssBefore)} before, peak ${mib(rssPeak)} during the HTTP attacks (growth ${mib(growth)}, bound ${mib(RSS_GROWTH_BOUND)})`);
      collector.record(AREA, 'RSS bounded, agents served', growth < RSS_GROWTH_BOUND && gap < HEARTBEAT_TIMEOUT_MS && w.real.disconnections() === 0, 'valid');
      expect(diffs).toEqual([]);
      expect(growth).toBeLessThan(RSS_GROWTH_BOUND);
      expect(gap).toBeLessThan(HEARTBEAT_TIMEOUT_MS);
      expect(w.real.disconnections()).toBe(0);
    });
  });
}
