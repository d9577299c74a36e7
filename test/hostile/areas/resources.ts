import { CloseCode } from '@cluster/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connectionsCheckingIntervalMs } from '../../../packages/master/src/server/http-server.js';
import { waitFor } from '../../integration/helpers/harness.js';
import { RawAgent, SPECS, isRefused } from '../../integration/helpers/raw-agent.js';
import { collector } from '../support/collector.js';
import { closeCodeCounts } from '../support/close-counts.js';
import { MiB, mib, retainedHeapBytes } from '../support/memory.js';
import { idleConnection, rawExchange, upgradeRequest } from '../support/raw-http.js';
import type { Snapshot } from '../support/snapshot.js';
import { HEARTBEAT_TIMEOUT_MS, HELLO_TIMEOUT_MS, REQUEST_TIMEOUT_MS, type World } from '../support/world.js';
import { namesHttpCause } from './admission.js';

const AREA = 'resources';
/** Connections of each kind held at once against the in-process master (the spawned one takes 2,000). */
const EACH = 500;
/** Node checks header/request timeouts every requestTimeout / 4 (at least 250 ms). */
/** How late Node may drop a request past its timeout: its check interval (http-server.ts). */
const CHECK_MS = connectionsCheckingIntervalMs(REQUEST_TIMEOUT_MS);
/** Closing hundreds of connections at the same instant takes a moment on 2 busy cores: the upper bound only has to show it was the timeout. */
const SLACK_MS = 3_000;

/** Case 3 against the in-process master with short timeouts: idle, hello-less and slow connections are cut off. */
export function resourcesArea(getWorld: () => World): void {
  describe('3. resources: idle, hello-less and slow connections are cut off (short timeouts)', () => {
    let w: World;
    let token: string;
    let stormToken: string;
    let before: Snapshot;
    const idleClosedLogged: boolean[] = [];

    beforeAll(async () => {
      w = getWorld();
      token = await w.register('idler');
      stormToken = await w.register('storm');
      w.live.add('storm');
      w.helloSpecs.set('storm', SPECS);
      before = await w.snap();
    });

    afterAll(async () => {
      expect(await w.diff(AREA, before)).toEqual([]);
      await w.assertServing();
    });

    test(`${EACH} connections that never send a byte and ${EACH} that never say hello, all from 127.0.0.1`, { timeout: 20_000 }, async () => {
      const heapBefore = retainedHeapBytes();
      const from = performance.now();
      const mark = w.logMark();
      const idle = await Promise.all(Array.from({ length: EACH }, () => idleConnection(w.port)));
      const silent = await Promise.all(
        Array.from({ length: EACH }, () => RawAgent.open(w.url, { workerId: 'idler', token }).then((a) => ({ a, opened: performance.now() }))),
      );
      const heapHeld = process.memoryUsage().heapUsed;
      const idleMs = await Promise.all(idle.map((c) => c.closed));
      const silentClosed = await Promise.all(silent.map(async ({ a, opened }) => ({ ...(await a.closed), ms: performance.now() - opened })));
      const to = performance.now();
      const gap = w.ctl.maxGapMs(from, to);

      const idleOk = idleMs.filter((ms) => ms >= REQUEST_TIMEOUT_MS - 50 && ms <= REQUEST_TIMEOUT_MS + CHECK_MS + SLACK_MS).length;
      // One worker holds one hello-less connection at a time (session-host.ts): each newer one replaces
      // the one before at once (4409), and the last is cut off by the hello timeout (4408).
      const replaced = silentClosed.filter((c) => c.code === CloseCode.replaced).length;
      const timedOut = silentClosed.filter((c) => c.code === CloseCode.heartbeatTimeout && c.ms >= HELLO_TIMEOUT_MS - 50 && c.ms <= HELLO_TIMEOUT_MS + SLACK_MS).length;
      const silentOk = replaced + timedOut;
      collector.recordMany(AREA, 'idle TCP connection (in-process)', { refused: idleOk, wrong: EACH - idleOk });
      collector.recordMany(AREA, 'upgraded connection without hello (in-process)', { refused: silentOk, wrong: EACH - silentOk });

      // Whatever was held for them is released once they are gone.
      const heapAfter = retainedHeapBytes();
      collector.note(
        `in-process: ${EACH} idle + ${EACH} hello-less connections: idle closed after ${Math.round(Math.min(...idleMs))}–${Math.round(Math.max(...idleMs))} ms (request timeout ${REQUEST_TIMEOUT_MS} ms), ` +
          `hello-less of one worker: ${replaced} replaced by the next (4409), ${timedOut} closed by the hello timeout (${HELLO_TIMEOUT_MS} ms), all after ${Math.round(Math.min(...silentClosed.map((c) => c.ms)))}–${Math.round(Math.max(...silentClosed.map((c) => c.ms)))} ms; ` +
          `heap while held +${mib(heapHeld - heapBefore)}, retained after ${mib(heapAfter - heapBefore)}; control's longest ack gap ${Math.round(gap)} ms`,
      );
      const helloLogs = w.logsSince(mark).filter((l) => l.msg === 'protocol error; closing' && l.code === CloseCode.heartbeatTimeout).length;
      idleClosedLogged.push(w.logsSince(mark).some((l) => l.msg !== 'protocol error; closing' && l.msg !== 'disconnected' && namesHttpCause(l)));

      expect(idleOk, `idle connections closed at ${idleMs.map(Math.round).slice(0, 20).join(', ')} … ms`).toBe(EACH);
      expect([replaced, timedOut], `hello-less: ${JSON.stringify(closeCodeCounts(silentClosed))}`).toEqual([EACH - 1, 1]);
      expect(helloLogs, 'the hello timeout is logged').toBeGreaterThanOrEqual(1);
      expect(gap).toBeLessThan(HEARTBEAT_TIMEOUT_MS);
      expect(heapAfter - heapBefore, 'heap retained after the connections closed').toBeLessThan(20 * MiB);
    });

    test('slow loris: 20 connections sending their upgrade one byte every 500 ms are cut off by the header timeout', { timeout: 15_000 }, async () => {
      const mark = w.logMark();
      const request = upgradeRequest({ workerId: 'idler', token });
      const results = await Promise.all(
        Array.from({ length: 20 }, () => rawExchange(w.port, request, { byteEveryMs: 500, deadlineMs: REQUEST_TIMEOUT_MS + CHECK_MS + 3_000 })),
      );
      const ok = results.filter((r) => r.closedByServer && r.elapsedMs <= REQUEST_TIMEOUT_MS + CHECK_MS + SLACK_MS && r.status !== 101);
      collector.recordMany(AREA, 'slow loris', { refused: ok.length, wrong: results.length - ok.length });
      collector.note(
        `slow loris: cut off after ${Math.round(Math.min(...results.map((r) => r.elapsedMs)))}–${Math.round(Math.max(...results.map((r) => r.elapsedMs)))} ms, ` +
          `having sent ${Math.max(...results.map((r) => r.sent))} of ${request.length} bytes; answered ${[...new Set(results.map((r) => r.status ?? 'nothing'))].join('/')}`,
      );
      idleClosedLogged.push(w.logsSince(mark).some(namesHttpCause));
      expect(ok.length, JSON.stringify(results.slice(0, 3).map((r) => [r.elapsedMs, r.status, r.sent]))).toBe(results.length);
    });

    test('connections cut off by the header timeout (idle, slow loris) are logged with their reason', () => {
      collector.record(AREA, 'request-head timeouts are logged', idleClosedLogged.every(Boolean) && idleClosedLogged.length === 2, 'refusal', 'no log line');
      expect(idleClosedLogged, 'no master log line for connections closed by the request-head timeout').toEqual([true, true]);
    });

    test('1,000 concurrent upgrades with unknown ids from one address: all refused alike (401), the control agent unaffected', { timeout: 15_000 }, async () => {
      const from = performance.now();
      const results = await Promise.all(
        Array.from({ length: 1_000 }, (_, i) => RawAgent.connect(w.url, { workerId: `nobody-${i % 50}`, token })),
      );
      const refused = results.filter((r) => isRefused(r) && r.status === 401).length;
      for (const r of results) if (!isRefused(r)) r.destroy();
      const gap = w.ctl.maxGapMs(from);
      collector.recordMany(AREA, 'concurrent unknown-id upgrades', { refused, wrong: results.length - refused });
      expect(refused).toBe(1_000);
      await w.ctl.nextAck();
      expect(gap).toBeLessThan(HEARTBEAT_TIMEOUT_MS);
    });

    test('100 connections for one worker in a row: each replaces the last (4409), one session remains', { timeout: 15_000 }, async () => {
      const agents: RawAgent[] = [];
      for (let i = 0; i < 100; i++) agents.push(await RawAgent.admitted(w.url, { workerId: 'storm', token: stormToken }));
      const last = agents.pop();
      const closes = await Promise.all(agents.map((a) => a.closed));
      const replaced = closes.filter((c) => c.code === CloseCode.replaced).length;
      collector.recordMany(AREA, 'replacement storm', { handled: replaced, wrong: closes.length - replaced });
      expect(replaced).toBe(99);
      expect(await last?.heartbeat()).toBe(1);
      expect((await w.m.master.metrics.connectedAgents.get()).values[0]?.value).toBe(3);
      await waitFor('storm active', async () => (await w.h.worker('storm'))?.is_active === true);
      await last?.close();
    });
  });
}
