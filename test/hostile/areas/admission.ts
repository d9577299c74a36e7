import { HEADERS, PROTOCOL_VERSION } from '@cluster/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { LogLine } from '../../integration/helpers/harness.js';
import { collector } from '../support/collector.js';
import { plainRequest, rawExchange, upgradeRequest, type RawResult } from '../support/raw-http.js';
import type { Snapshot } from '../support/snapshot.js';
import type { World } from '../support/world.js';

const AREA = 'admission';

interface Case {
  name: string;
  request: () => string | Buffer;
  /** Acceptable statuses; undefined in the list: closed without an answer. */
  status: readonly (number | undefined)[];
  body?: RegExp;
  /** The master's log line that gives the reason. */
  logged: (line: LogLine) => boolean;
}

const refusedWith = (status: number) => (l: LogLine) => l.msg === 'refused' && l.status === status;

/**
 * A log line that says why an HTTP request was turned away before it became
 * a WebSocket (bad head, header timeout, method, handshake). The wording is
 * the product's choice; this only asks that some line names the cause.
 */
export const namesHttpCause = (l: LogLine): boolean =>
  l.msg === 'refused' ||
  /client ?error|bad request|header|parse|malformed|method|handshake|timed? ?out|request/i.test(
    `${l.msg} ${typeof l.reason === 'string' ? l.reason : ''} ${JSON.stringify(l.err ?? '')} ${typeof l.code === 'string' ? l.code : ''}`,
  );

function bodyOf(r: RawResult): string {
  const at = r.response.indexOf('\r\n\r\n');
  return at === -1 ? '' : r.response.slice(at + 4);
}

/** Case 1: who may become a WebSocket at all. Every refusal writes nothing. */
export function admissionArea(getWorld: () => World): void {
  describe('1. admission: refused at the upgrade, logged, nothing written', () => {
    let w: World;
    const t: Record<string, string> = {};
    let before: Snapshot;

    beforeAll(async () => {
      w = getWorld();
      t.w1 = await w.register('w1');
      t.w2 = await w.register('w2');
      t.far = await w.register('far', '127.0.0.2');
      // A credential whose worker document does not exist (left behind by a deleteOne by hand).
      await w.h.registry.registerWorker('ghost', '127.0.0.1');
      t.ghost = collector.token(await w.h.credentials.issue('ghost'), 'admission/ghost');
      await w.h.db.collection('WORKER_REGISTRY').deleteOne({ worker_id: 'ghost' });
      // A worker that had a token and was unregistered since.
      t.gone = await w.register('gone');
      await w.h.registry.unregisterWorker('gone');
      await w.h.credentials.remove('gone');
      before = await w.snap();
    });

    afterAll(async () => {
      const diffs = await w.diff(AREA, before);
      expect(diffs).toEqual([]);
      await w.assertServing();
    });

    const token = (id: string): string => t[id] ?? '';
    const identity: Case[] = [
      { name: 'unknown worker id', request: () => upgradeRequest({ workerId: 'nobody', token: token('w1') }), status: [401], body: /^unknown worker or invalid token\n?$/, logged: refusedWith(401) },
      { name: 'registered id, no token', request: () => upgradeRequest({ workerId: 'w1' }), status: [401], body: /token/, logged: refusedWith(401) },
      { name: 'registered id, wrong token', request: () => upgradeRequest({ workerId: 'w1', token: 'A'.repeat(43) }), status: [401], body: /^unknown worker or invalid token\n?$/, logged: refusedWith(401) },
      { name: "registered id, another worker's token", request: () => upgradeRequest({ workerId: 'w1', token: token('w2') }), status: [401], body: /^unknown worker or invalid token\n?$/, logged: refusedWith(401) },
      { name: 'right token from the wrong address (worker_ip 127.0.0.2, from 127.0.0.1)', request: () => upgradeRequest({ workerId: 'far', token: token('far') }), status: [403], body: /source address/, logged: refusedWith(403) },
      { name: 'token of an unregistered worker (credential without a document)', request: () => upgradeRequest({ workerId: 'ghost', token: token('ghost') }), status: [401], body: /^unknown worker or invalid token\n?$/, logged: refusedWith(401) },
      { name: 'old token of a worker unregistered since', request: () => upgradeRequest({ workerId: 'gone', token: token('gone') }), status: [401], body: /^unknown worker or invalid token\n?$/, logged: refusedWith(401) },
      { name: "an unregistered worker's token under a registered id", request: () => upgradeRequest({ workerId: 'w1', token: token('gone') }), status: [401], logged: refusedWith(401) },
      { name: 'bearer token of 300 characters', request: () => upgradeRequest({ workerId: 'w1', extra: [`Authorization: Bearer ${'a'.repeat(300)}`] }), status: [401], logged: refusedWith(401) },
      { name: 'token in the query string instead of the header', request: () => upgradeRequest({ workerId: 'w1', path: `/agent?token=${token('w1')}` }), status: [401], logged: refusedWith(401) },
      { name: 'Basic credentials', request: () => upgradeRequest({ workerId: 'w1', extra: ['Authorization: Basic dzE6cGFzc3dvcmQ='] }), status: [401], logged: refusedWith(401) },
      { name: 'a wrong Authorization header first, the right one second', request: () => upgradeRequest({ workerId: 'w1', extra: ['Authorization: Bearer ' + 'B'.repeat(43), `Authorization: Bearer ${token('w1')}`] }), status: [401], logged: refusedWith(401) },
    ];
    const malformed: Case[] = [
      { name: 'worker id {"$gt": ""}', request: () => upgradeRequest({ workerId: '{"$gt": ""}', token: token('w1') }), status: [400], body: /worker id/, logged: refusedWith(400) },
      { name: 'worker id with a dollar sign', request: () => upgradeRequest({ workerId: 'w1$where', token: token('w1') }), status: [400], logged: refusedWith(400) },
      { name: 'worker id of 65 characters', request: () => upgradeRequest({ workerId: 'w'.repeat(65), token: token('w1') }), status: [400], logged: refusedWith(400) },
      { name: 'worker id of 4 KB', request: () => upgradeRequest({ workerId: 'w'.repeat(4096), token: token('w1') }), status: [400], logged: refusedWith(400) },
      { name: 'worker id with bytes above 0x7f', request: () => Buffer.from(upgradeRequest({ workerId: 'w1\xff\xfe\u00e9', token: token('w1') }), 'latin1'), status: [400], logged: refusedWith(400) },
      { name: 'two x-worker-id headers', request: () => upgradeRequest({ workerId: 'w1', token: token('w1'), extra: [`${HEADERS.workerId}: w2`] }), status: [400], logged: refusedWith(400) },
      { name: 'no protocol version', request: () => upgradeRequest({ workerId: 'w1', token: token('w1'), omitVersion: true }), status: [426], body: /protocol version/, logged: refusedWith(426) },
      { name: 'another protocol version', request: () => upgradeRequest({ workerId: 'w1', token: token('w1'), omitVersion: true, extra: [`${HEADERS.protocolVersion}: ${PROTOCOL_VERSION + 1}`] }), status: [426], logged: refusedWith(426) },
      { name: 'upgrade on another path', request: () => upgradeRequest({ workerId: 'w1', token: token('w1'), path: '/agent/../admin' }), status: [404], body: /unknown path/, logged: refusedWith(404) },
      { name: 'upgrade on /AGENT', request: () => upgradeRequest({ workerId: 'w1', token: token('w1'), path: '/AGENT' }), status: [404], logged: refusedWith(404) },
    ];
    // Refused by Node's HTTP parser before any handler of ours runs (the server's clientError).
    const unparsable: Case[] = [
      { name: 'request head over 8 KiB', request: () => upgradeRequest({ workerId: 'w1', token: token('w1'), extra: [`X-Pad: ${'p'.repeat(20_000)}`] }), status: [400, 431], logged: namesHttpCause },
      { name: '3,000 header lines', request: () => upgradeRequest({ workerId: 'w1', token: token('w1'), extra: Array.from({ length: 3_000 }, (_, i) => `X-${i}: y`) }), status: [400, 431], logged: namesHttpCause },
      { name: 'header line without a colon', request: () => `GET /agent HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n`, status: [400], logged: namesHttpCause },
      { name: 'control character in a header value', request: () => upgradeRequest({ workerId: 'w1\u0001', token: token('w1') }), status: [400], logged: namesHttpCause },
      { name: 'not HTTP at all', request: () => Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x0d, 0x0a, 0x0d, 0x0a]), status: [400], logged: namesHttpCause },
      { name: 'CONNECT to another host', request: () => `CONNECT 10.0.0.1:22 HTTP/1.1\r\nHost: 10.0.0.1:22\r\n\r\n`, status: [400, 405, undefined], logged: namesHttpCause },
    ];
    // Plain HTTP on the endpoint, answered by the request handler.
    const plain: Case[] = [
      { name: 'plain GET /agent without an upgrade', request: () => plainRequest('GET', '/agent'), status: [426], body: /upgrade required/, logged: namesHttpCause },
      ...['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'].map((method) => ({
        name: `${method} /agent`,
        request: () => plainRequest(method, '/agent'),
        status: [405],
        logged: namesHttpCause,
      })),
    ];
    // Upgrades with the right credentials that ws itself must refuse to complete.
    const handshake: Case[] = [
      { name: 'POST with upgrade headers and valid credentials', request: () => upgradeRequest({ method: 'POST', workerId: 'w1', token: token('w1') }), status: [400, 405], logged: namesHttpCause },
      { name: 'upgrade without Sec-WebSocket-Key, valid credentials', request: () => upgradeRequest({ workerId: 'w1', token: token('w1'), omitKey: true }), status: [400], logged: namesHttpCause },
      { name: 'upgrade with Sec-WebSocket-Version 7, valid credentials', request: () => upgradeRequest({ workerId: 'w1', token: token('w1') }).replace('Sec-WebSocket-Version: 13', 'Sec-WebSocket-Version: 7'), status: [400, 426], logged: namesHttpCause },
    ];

    const results = new Map<string, { result: RawResult; logged: boolean; diffs: string[] }>();

    async function attempt(c: Case): Promise<{ result: RawResult; logged: boolean; diffs: string[] }> {
      const snap = await w.snap();
      const mark = w.logMark();
      const result = await rawExchange(w.port, c.request(), { deadlineMs: 5_000 });
      collector.text(`admission answer: ${c.name}`, result.response);
      // Logging is synchronous and happens before the answer is written; a short grace covers a deferred logger.
      const logged = await w.waitLog(mark, c.logged, c.name, 100).then(
        () => true,
        () => false,
      );
      const diffs = await w.diff(AREA, snap);
      const entry = { result, logged, diffs };
      results.set(c.name, entry);
      return entry;
    }

    function checkRefusal(c: Case, r: { result: RawResult; logged: boolean; diffs: string[] }): void {
      const ok =
        r.result.closedByServer &&
        c.status.includes(r.result.status) &&
        r.result.status !== 101 &&
        (c.body === undefined || c.body.test(bodyOf(r.result))) &&
        r.diffs.length === 0 &&
        r.logged;
      collector.record(AREA, c.name, ok, 'refusal', `status ${r.result.status}${r.logged ? '' : ', no log line'}`);
      expect(r.result.status, `${c.name}: ${r.result.response.slice(0, 200)}`).not.toBe(101);
      expect(c.status, `${c.name}: got ${r.result.status}`).toContain(r.result.status);
      expect(r.result.closedByServer, `${c.name}: the master left the connection open`).toBe(true);
      if (c.body) expect(bodyOf(r.result)).toMatch(c.body);
      expect(r.diffs).toEqual([]);
    }

    describe.each([
      ['identity and credentials', identity],
      ['malformed admission headers', malformed],
    ])('%s', (_group, cases) => {
      test.each(cases.map((c) => [c.name, c] as const))('%s: refused, logged, nothing written', async (_name, c) => {
        const r = await attempt(c);
        checkRefusal(c, r);
        expect(r.logged, `${c.name}: no log line gives the reason`).toBe(true);
      });
    });

    test('a refusal log names the worker only once it is valid, and never echoes raw bytes', () => {
      const lines = w.m.logs.filter((l) => l.msg === 'refused' && l.status === 400);
      expect(lines.length).toBeGreaterThanOrEqual(5);
      for (const l of lines) {
        expect(l.worker_id).toBeUndefined();
        expect(typeof l.worker_id_given === 'string' ? l.worker_id_given : '').toMatch(/^[\x20-\x7e…]{0,70}$/);
      }
    });

    describe.each([
      ['requests the HTTP parser refuses', unparsable],
      ['plain HTTP and wrong methods on the endpoint', plain],
      ['handshakes ws refuses after admission', handshake],
    ])('%s', (group, cases) => {
      test.each(cases.map((c) => [c.name, c] as const))('%s: refused, connection closed, nothing written', async (_name, c) => {
        checkRefusal(c, await attempt(c));
      });

      // One test per group for the log: these share one cause each (see the report).
      test(`${group}: each refusal is logged with its reason`, () => {
        const missing = cases.filter((c) => results.get(c.name)?.logged !== true).map((c) => c.name);
        expect(missing, `no master log line gives the reason for: ${missing.join('; ')}`).toEqual([]);
      });
    });

    test('the legitimate agents were served throughout', async () => {
      await w.assertServing();
      expect(w.real.admissions()).toBe(1);
    });
  });
}
