import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connectionsCheckingIntervalMs } from '../../../packages/master/src/server/http-server.js';
import { createCredentialStore } from '../../../packages/master/src/registry/credential-store.js';
import { createWorkerRegistry } from '../../../packages/master/src/registry/worker-registry.js';
import { openHarness, waitFor, type Harness, type RunningMaster } from '../../integration/helpers/harness.js';
import { RawAgent, SPECS } from '../../integration/helpers/raw-agent.js';
import { openTestDatabase, type TestDatabase } from '../../support/database.js';
import { collector } from '../support/collector.js';
import { startRealControl, type RealControl } from '../support/control.js';
import { spawnMaster, type Daemon } from '../support/daemon.js';
import { makePki, type Pki } from '../support/pki.js';
import { idleConnection, rawExchange, upgradeRequest } from '../support/raw-http.js';
import { diffSnapshots, snapshot, type Snapshot } from '../support/snapshot.js';

const AREA = 'tls';
const REQUEST_TIMEOUT_MS = 2_000;
/** How late Node may drop a request past its timeout: its check interval (http-server.ts). */
const CHECK_MS = connectionsCheckingIntervalMs(REQUEST_TIMEOUT_MS);
const CERT_ERROR = /self[- ]signed|unable to (get local issuer|verify)|certificate/i;

/** Case 6: wss:// with a given certificate; the agent trusts it only through its CA file. */
export function tlsArea(): void {
  describe('6. TLS: the master serves wss://; only an agent given the CA connects', () => {
    let pki: Pki;
    let t: TestDatabase;
    let d: Daemon;
    let before: Snapshot;
    const tokens: Record<string, string> = {};
    const agents: RealControl[] = [];
    let url: string;

    beforeAll(async () => {
      pki = await makePki();
      // The private key must never be printed: its base64 body lines join the secret scan.
      for (const line of (await readFile(pki.keyPath, 'utf8')).split('\n').filter((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l)).slice(0, 3)) {
        collector.secret(line, 'TLS private key');
      }
      t = await openTestDatabase('hostile_tls');
      collector.cleanup(() => t.close());
      const registry = createWorkerRegistry(t.db);
      const credentials = createCredentialStore(t.db);
      await registry.ensureCollections();
      for (const id of ['tls-ok', 'tls-noca', 'tls-otherca', 'tls-plain']) {
        await registry.registerWorker(id, '127.0.0.1');
        tokens[id] = collector.token(await credentials.issue(id), `tls/${id}`);
      }
      d = await spawnMaster('d2 (wss)', ['--tls-cert', pki.certPath, '--tls-key', pki.keyPath, '--heartbeat-interval-ms', '500', '--heartbeat-timeout-ms', '2000'], {
        MONGODB_URI: t.uri,
        MONGODB_DATABASE: t.name,
      });
      await d.waitLog((l) => l.msg === 'registry loaded', 'registry loaded');
      url = `wss://127.0.0.1:${d.port}`;
      before = await snapshot(t.db);
    });

    afterAll(async () => {
      for (const a of agents) await a.agent.close();
      const diffs = diffSnapshots(before, await snapshot(t.db), new Set(['tls-ok']), new Map([['tls-ok', SPECS]]));
      collector.registryDiff(AREA, diffs);
      expect(diffs).toEqual([]);
      await pki.remove();
    });

    test('it says so when it starts', () => {
      expect(d.lines.find((l) => l.msg === 'listening')).toMatchObject({ tls: true });
    });

    test('an agent given the CA file is admitted over wss:// and beats', async () => {
      const a = await startRealControl(url, 'tls-ok', tokens['tls-ok'] ?? '', { ca: pki.ca });
      agents.push(a);
      collector.source('tls: agent with CA log', () => a.logs.text());
      await a.logs.waitFor('admitted');
      await waitFor('tls-ok active', async () => {
        const doc = await t.db.collection('WORKER_REGISTRY').findOne({ worker_id: 'tls-ok' });
        return doc?.is_active === true && Number(doc.last_heartbeat) > 0;
      });
      await d.waitLog((l) => l.msg === 'admitted' && l.worker_id === 'tls-ok', 'tls-ok admitted');
      collector.record(AREA, 'agent with the CA file', true, 'valid');
    });

    test.each([
      ['no CA file', 'tls-noca', undefined],
      ['a CA file of another CA', 'tls-otherca', 'other'],
    ] as const)('an agent with %s refuses the certificate with a clear error and is not admitted', async (_what, id, ca) => {
      const a = await startRealControl(url, id, tokens[id] ?? '', ca === undefined ? {} : { ca: pki.otherCa });
      agents.push(a);
      collector.source(`tls: agent (${id}) log`, () => a.logs.text());
      const failed = await a.logs.waitFor('connect-failed');
      // A second failed attempt proves it did not get through on a retry either.
      await waitFor('a second attempt', () => a.logs.events('connect-failed').length >= 2);
      await a.agent.close();
      const ok = CERT_ERROR.test(String(failed.error)) && a.admissions() === 0;
      collector.record(AREA, `agent with ${_what}`, ok, 'refusal', String(failed.error));
      expect(String(failed.error)).toMatch(CERT_ERROR);
      expect(failed.msg).toMatch(CERT_ERROR);
      expect(a.admissions()).toBe(0);
      expect(d.lines.some((l) => l.msg === 'admitted' && l.worker_id === id)).toBe(false);
    });

    test('plain ws:// to the wss:// port gets no WebSocket', async () => {
      const attempt = await RawAgent.connect(`ws://127.0.0.1:${d.port}`, { workerId: 'tls-plain', token: tokens['tls-plain'] ?? '' }).then(
        (r) => (r instanceof RawAgent ? (r.destroy(), 'admitted') : `refused ${r.status}`),
        (error: Error) => `failed: ${error.message}`,
      );
      collector.record(AREA, 'plain ws:// to the wss:// port', attempt !== 'admitted', 'refusal', attempt);
      expect(attempt).not.toBe('admitted');
      expect(d.alive()).toBe(true);
    });

    describe('connections that never complete TLS (in-process wss:// master, request timeout 2 s)', () => {
      let h: Harness;
      let m: RunningMaster;

      beforeAll(async () => {
        h = await openHarness();
        const [cert, key] = await Promise.all([readFile(pki.certPath), readFile(pki.keyPath)]);
        m = await h.startMaster({ tls: { cert, key }, requestTimeoutMs: REQUEST_TIMEOUT_MS, checkSourceAddress: true });
        collector.source('tls: in-process wss master log', () => m.rawLogs.join(''));
      });

      afterAll(async () => {
        await h.close();
      });

      test('a slow-loris head after the handshake is cut off by the header timeout', { timeout: 15_000 }, async () => {
        const r = await rawExchange(m.port, upgradeRequest({ workerId: 'x', token: 'y'.repeat(43) }), {
          tls: true,
          byteEveryMs: 500,
          deadlineMs: REQUEST_TIMEOUT_MS + CHECK_MS + 3_000,
        });
        const ok = r.closedByServer && r.elapsedMs <= REQUEST_TIMEOUT_MS + CHECK_MS + 1_500;
        collector.record(AREA, 'slow loris over TLS', ok, 'refusal', `${Math.round(r.elapsedMs)} ms`);
        expect(r.closedByServer).toBe(true);
        expect(r.elapsedMs).toBeLessThanOrEqual(REQUEST_TIMEOUT_MS + CHECK_MS + 1_500);
      });

      test('20 TCP connections that never send a ClientHello are closed like any idle connection', { timeout: 15_000 }, async () => {
        const deadline = REQUEST_TIMEOUT_MS + CHECK_MS + 2_000;
        const conns = await Promise.all(Array.from({ length: 20 }, () => idleConnection(m.port)));
        const closedMs = await Promise.all(
          conns.map((c) => Promise.race([c.closed, new Promise<number>((r) => setTimeout(r, deadline, Number.POSITIVE_INFINITY))])),
        );
        for (const c of conns) c.socket.destroy();
        const ok = closedMs.filter((ms) => ms <= deadline).length;
        collector.recordMany(AREA, 'idle TCP connection to wss:// (no ClientHello)', { refused: ok, wrong: conns.length - ok });
        expect(
          ok,
          `still open after ${deadline} ms: ${conns.length - ok} of ${conns.length} (a wss:// master keeps a connection that never starts TLS for the TLS handshake timeout, 120 s by default)`,
        ).toBe(conns.length);
      });
    });
  });
}
