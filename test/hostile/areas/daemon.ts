import { CloseCode, DEFAULTS } from '@cluster/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connectionsCheckingIntervalMs } from '../../../packages/master/src/server/http-server.js';
import { createCredentialStore } from '../../../packages/master/src/registry/credential-store.js';
import { SERVER_DEFAULTS } from '../../../packages/master/src/server/options.js';
import { createWorkerRegistry } from '../../../packages/master/src/registry/worker-registry.js';
import { waitFor } from '../../integration/helpers/harness.js';
import { RawAgent, SPECS } from '../../integration/helpers/raw-agent.js';
import { openTestDatabase, type TestDatabase } from '../../support/database.js';
import { collector } from '../support/collector.js';
import { closeCodeCounts } from '../support/close-counts.js';
import { AckMonitor } from '../support/control.js';
import { spawnMaster, type Daemon } from '../support/daemon.js';
import { MiB, mib, openFilesLimit, processMemory } from '../support/memory.js';
import { idleConnection } from '../support/raw-http.js';
import { diffSnapshots, snapshot, type Snapshot } from '../support/snapshot.js';

const AREA = 'resources (spawned master)';
const WANTED = 2_000;
/** The master's defaults these connections run into: no flag shortens them here. */
const HELLO_TIMEOUT_MS = DEFAULTS.helloTimeoutMs;
const REQUEST_TIMEOUT_MS = SERVER_DEFAULTS.requestTimeoutMs;
/** How late Node may drop a request past its timeout: its check interval (http-server.ts). */
const CHECK_MS = connectionsCheckingIntervalMs(REQUEST_TIMEOUT_MS);
const SLACK_MS = 3_000;
const BEAT_MS = 500;
const PEAK_RSS_LIMIT = 300 * MiB;

export const daemonFigures: { connections: number; peakRssBytes: number; helloClosedMs: [number, number]; idleClosedMs: [number, number] } = {
  connections: 0,
  peakRssBytes: 0,
  helloClosedMs: [0, 0],
  idleClosedMs: [0, 0],
};

/**
 * Case 3 at the defaults, against `cluster-master serve` in its own process:
 * 2,000 connections (half never send a byte, half upgrade and never say
 * hello) are all closed after about 10 s, its peak RSS stays bounded, and a
 * legitimate agent is served throughout.
 */
export function daemonArea(): void {
  describe('3. resources: 2,000 idle and hello-less connections against the spawned master (default 10 s timeouts)', () => {
    let t: TestDatabase;
    let d: Daemon;
    let ctl: AckMonitor;
    let before: Snapshot;
    const tokens: Record<string, string> = {};

    beforeAll(async () => {
      t = await openTestDatabase('hostile_d1');
      collector.cleanup(() => t.close());
      const registry = createWorkerRegistry(t.db);
      const credentials = createCredentialStore(t.db);
      await registry.ensureCollections();
      for (const id of ['d-ctl', 'd-idle', 'd-late']) {
        await registry.registerWorker(id, '127.0.0.1');
        tokens[id] = collector.token(await credentials.issue(id), `daemon/${id}`);
      }
      d = await spawnMaster('d1 (ws, defaults)', ['--heartbeat-interval-ms', String(BEAT_MS), '--heartbeat-timeout-ms', '2000', '--flush-interval-ms', '200'], {
        MONGODB_URI: t.uri,
        MONGODB_DATABASE: t.name,
      });
      await d.waitLog((l) => l.msg === 'registry loaded', 'registry loaded');
      ctl = await AckMonitor.start(`ws://127.0.0.1:${d.port}`, 'd-ctl', tokens['d-ctl'] ?? '', BEAT_MS);
      await waitFor('d-ctl specs written', async () => (await t.db.collection('WORKER_REGISTRY').findOne({ worker_id: 'd-ctl' }))?.total_cpu === SPECS.total_cpu);
      before = await snapshot(t.db);
    });

    afterAll(async () => {
      await ctl?.stop();
      const diffs = diffSnapshots(before, await snapshot(t.db), new Set(['d-ctl', 'd-late']), new Map([['d-late', SPECS]]));
      collector.registryDiff(AREA, diffs);
      expect(diffs).toEqual([]);
      // The daemon keeps running until the final checks (alive, same pid) stop it; its database goes after.
    });

    test('they are all closed after the default timeouts; peak RSS bounded; a legitimate agent served throughout', { timeout: 40_000 }, async () => {
      const limit = openFilesLimit();
      const n = Math.min(WANTED, Math.floor((limit - 400) / 2) * 2);
      daemonFigures.connections = n;
      if (n < WANTED) collector.note(`ulimit -n is ${limit}: ${n} connections instead of ${WANTED} against the spawned master`);
      expect(n, `ulimit -n (${limit}) leaves room for too few connections`).toBeGreaterThanOrEqual(200);
      const half = n / 2;
      const url = `ws://127.0.0.1:${d.port}`;
      const from = performance.now();
      const idle = await Promise.all(Array.from({ length: half }, () => idleConnection(d.port)));
      const silent: { agent: RawAgent; opened: number }[] = [];
      // Upgrades in batches of 100, so the admissions do not time out behind each other on 2 cores.
      for (let i = 0; i < half; i += 100) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(100, half - i) }, () =>
            RawAgent.open(url, { workerId: 'd-idle', token: tokens['d-idle'] ?? '' }).then((agent) => ({ agent, opened: performance.now() })),
          ),
        );
        silent.push(...batch);
      }
      const openedAll = performance.now();

      // While all are held: a new agent is admitted and acked, the control keeps its acks.
      const late = await RawAgent.admitted(url, { workerId: 'd-late', token: tokens['d-late'] ?? '' });
      expect(await late.heartbeat()).toBe(1);
      const heldRss = processMemory(d.pid)?.rssBytes ?? 0;

      const idleMs = await Promise.all(idle.map((c) => c.closed));
      const silentClosed = await Promise.all(silent.map(async ({ agent, opened }) => ({ ...(await agent.closed), ms: performance.now() - opened })));
      const to = performance.now();
      await late.close();
      await ctl.nextAck();
      const gap = ctl.maxGapMs(from, to);
      const peak = d.peakRssBytes();
      daemonFigures.peakRssBytes = peak;
      // The default hello timeout at work: the connections it closed (the others were replaced before it).
      const sMs = silentClosed.filter((c) => c.code === CloseCode.heartbeatTimeout).map((c) => c.ms);
      const allMs = silentClosed.map((c) => c.ms);
      daemonFigures.helloClosedMs = [Math.round(Math.min(...sMs)), Math.round(Math.max(...sMs))];
      daemonFigures.idleClosedMs = [Math.round(Math.min(...idleMs)), Math.round(Math.max(...idleMs))];

      const idleOk = idleMs.filter((ms) => ms >= REQUEST_TIMEOUT_MS - 50 && ms <= REQUEST_TIMEOUT_MS + CHECK_MS + SLACK_MS).length;
      // One worker holds one hello-less connection at a time (session-host.ts): each newer one replaces the one
      // before at once (4409); the last is cut off by the hello timeout (4408). The late agent is admitted meanwhile.
      const replaced = silentClosed.filter((c) => c.code === CloseCode.replaced).length;
      const timedOut = silentClosed.filter((c) => c.code === CloseCode.heartbeatTimeout && c.ms >= HELLO_TIMEOUT_MS - 50 && c.ms <= HELLO_TIMEOUT_MS + SLACK_MS).length;
      const silentOk = replaced + timedOut;
      collector.recordMany(AREA, 'idle TCP connection (default request timeout)', { refused: idleOk, wrong: half - idleOk });
      collector.recordMany(AREA, 'upgraded connection without hello (default hello timeout)', { refused: silentOk, wrong: half - silentOk });
      collector.note(
        `spawned master, ${n} connections opened in ${Math.round(openedAll - from)} ms: never-a-byte closed after ${daemonFigures.idleClosedMs.join('–')} ms (default request timeout ${REQUEST_TIMEOUT_MS} ms), ` +
          `hello-less of one worker: ${replaced} replaced by the next (4409), ${timedOut} closed 4408 by the default hello timeout (${HELLO_TIMEOUT_MS} ms) after ${daemonFigures.helloClosedMs.join('–')} ms, all within ${Math.round(Math.max(...allMs))} ms; ` +
          `RSS while held ${mib(heldRss)}, peak ${mib(peak)}; control's longest ack gap ${Math.round(gap)} ms`,
      );
      const logged = d.lines.filter((l) => l.msg === 'protocol error; closing' && l.code === CloseCode.heartbeatTimeout).length;

      expect(idleOk, `idle closed after ${daemonFigures.idleClosedMs.join('–')} ms`).toBe(half);
      expect([replaced, timedOut], `hello-less closed after ${daemonFigures.helloClosedMs.join('–')} ms: ${JSON.stringify(closeCodeCounts(silentClosed))}`).toEqual([half - 1, 1]);
      expect(logged).toBeGreaterThanOrEqual(1);
      expect(gap, 'the control agent went without an ack for longer than the heartbeat timeout').toBeLessThan(2_000);
      expect(peak, `peak RSS ${mib(peak)}`).toBeLessThan(PEAK_RSS_LIMIT);
      expect(d.alive()).toBe(true);
    });
  });
}
