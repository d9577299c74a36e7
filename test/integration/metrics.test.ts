import { connect } from 'node:net';
import { PROTOCOL_VERSION } from '@cluster/protocol';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createCredentialStore } from '../../packages/master/src/registry/credential-store.js';
import { createWorkerRegistry } from '../../packages/master/src/registry/worker-registry.js';
import { openHarness, waitFor, type Harness, type RunningMaster } from './helpers/harness.js';
import { ownDevDb } from './helpers/own-devdb.js';
import { Scrape } from './helpers/prometheus.js';
import { RawAgent } from './helpers/raw-agent.js';

/**
 * The master's /metrics, scraped and parsed as Prometheus does,
 * moves with what agents do: they come (connected, admitted), beat
 * (heartbeats, database writes), are refused (by reason), leave cleanly or
 * drop (flagged inactive by cause), and the sweep runs; the database going
 * away shows as write errors.
 */
const N = 4;
const ids = Array.from({ length: N }, (_, i) => `m${i}`);

let h: Harness;
let m: RunningMaster;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  h = await openHarness();
  for (const id of [...ids, 'orphan']) tokens[id] = await h.register(id);
  m = await h.startMaster();
});
afterAll(async () => {
  await h.close();
});

const scrape = (): Promise<Scrape> => Scrape.of(m.http);

/** Scrapes until `ok` holds; returns that scrape. */
const scrapeUntil = (what: string, ok: (s: Scrape) => boolean, timeoutMs = 5_000): Promise<Scrape> =>
  waitFor(what, async () => {
    const s = await scrape();
    return ok(s) ? s : undefined;
  }, { timeoutMs, intervalMs: 50 });

const CONNECTED = 'cluster_master_connected_agents';
const ADMISSIONS = 'cluster_master_admissions_total';
const HEARTBEATS = 'cluster_master_heartbeats_received_total';
const WRITES = 'cluster_master_db_write_duration_seconds_count';
const WRITE_ERRORS = 'cluster_master_db_write_errors_total';
const FLAGGED = 'cluster_master_workers_flagged_inactive_total';
const SWEEPS = 'cluster_master_sweep_duration_seconds_count';
const REFUSALS = 'cluster_master_refusals_total';
const HTTP_REFUSALS = 'cluster_master_http_refusals_total';

describe('agents come, beat and go', () => {
  test('every metric the master README lists is served, in the text format, with its type', async () => {
    // Series with labels appear once a label value was used; the HELP/TYPE lines are there from the start.
    const text = await (await fetch(`${m.http}/metrics`)).text();
    for (const [name, type] of [
      [CONNECTED, 'gauge'],
      [ADMISSIONS, 'counter'],
      [REFUSALS, 'counter'],
      [HTTP_REFUSALS, 'counter'],
      [HEARTBEATS, 'counter'],
      ['cluster_master_db_write_duration_seconds', 'histogram'],
      [WRITE_ERRORS, 'counter'],
      [FLAGGED, 'counter'],
      ['cluster_master_sweep_duration_seconds', 'histogram'],
      ['cluster_master_protocol_errors_total', 'counter'],
    ]) {
      expect(text).toContain(`# TYPE ${name} ${type}`);
    }
    const s = await scrape();
    for (const name of [CONNECTED, ADMISSIONS, HEARTBEATS]) expect(s.has(name), name).toBe(true);
  });

  test(`${N} agents: connected ${N}, admissions +${N}, heartbeats and database writes grow; clean goodbyes and a drop are flagged by cause`, async () => {
    const s0 = await scrape();
    expect(s0.value(CONNECTED)).toBe(0);

    const agents = await Promise.all(ids.map((id) => RawAgent.admitted(m.url, { workerId: id, token: tokens[id] ?? '' })));
    for (const a of agents) a.startBeating(100);
    const s1 = await scrapeUntil(
      'agents connected and beating, heartbeats written',
      (s) =>
        s.value(CONNECTED) === N &&
        s.value(HEARTBEATS) >= s0.value(HEARTBEATS) + 2 * N &&
        s.value(WRITES, { op: 'heartbeat' }) > s0.value(WRITES, { op: 'heartbeat' }) &&
        s.value(WRITES, { op: 'specs' }) > s0.value(WRITES, { op: 'specs' }),
    );
    expect(s1.value(ADMISSIONS)).toBe(s0.value(ADMISSIONS) + N);
    expect(s1.value(WRITE_ERRORS)).toBe(s0.value(WRITE_ERRORS));

    // All but one say goodbye: flagged at once (next flush), cause clean_close.
    const [dropped, ...leaving] = agents;
    await Promise.all(leaving.map((a) => a.close()));
    const s2 = await scrapeUntil(
      'clean goodbyes flagged and written',
      (s) =>
        s.value(CONNECTED) === 1 &&
        s.value(FLAGGED, { cause: 'clean_close' }) === s0.value(FLAGGED, { cause: 'clean_close' }) + N - 1 &&
        s.value(WRITES, { op: 'inactive' }) > s0.value(WRITES, { op: 'inactive' }),
    );
    expect(s2.value(FLAGGED, { cause: 'timeout' })).toBe(s0.value(FLAGGED, { cause: 'timeout' }));

    // The last one drops without a goodbye: gone from connected at once, flagged once the timeout (1 s) passed.
    dropped?.destroy();
    const s3 = await scrapeUntil('the drop flagged after the timeout', (s) => s.value(FLAGGED, { cause: 'timeout' }) === s0.value(FLAGGED, { cause: 'timeout' }) + 1);
    expect(s3.value(CONNECTED)).toBe(0);
    expect(s3.value(FLAGGED, { cause: 'clean_close' })).toBe(s2.value(FLAGGED, { cause: 'clean_close' }));
    expect(s3.value(ADMISSIONS)).toBe(s1.value(ADMISSIONS));
    // The sweep ran after the flushes all along.
    expect(s3.value(SWEEPS)).toBeGreaterThan(s0.value(SWEEPS));
  });

  test('a worker left active by a master that died is flagged by the sweep (cause sweep)', async () => {
    const s0 = await scrape();
    // As a master leaves it when it dies: active, with the second of its last write, now.
    // (A second older than the sweeps' cutoffs so far is written by no master; the sweeps
    // between full ones name only the seconds since, docs/DESIGN.md "Stale sweep by windows".)
    await h.registry.updateHeartbeat('orphan', Math.floor(Date.now() / 1000));
    const s1 = await scrapeUntil('the sweep flagged it', (s) => s.value(FLAGGED, { cause: 'sweep' }) === s0.value(FLAGGED, { cause: 'sweep' }) + 1);
    expect(s1.value(SWEEPS)).toBeGreaterThan(s0.value(SWEEPS));
    expect((await h.worker('orphan'))?.is_active).toBe(false);
  });
});

describe('refusals', () => {
  test('refused upgrades count under their reason and never as admissions', async () => {
    const s0 = await scrape();
    expect((await RawAgent.refused(m.url, { workerId: 'nobody', token: tokens.m0 })).status).toBe(401);
    expect((await RawAgent.refused(m.url, { workerId: 'm0', token: 'x'.repeat(43) })).status).toBe(401);
    expect((await RawAgent.refused(m.url, { workerId: 'm0', token: tokens.m0, path: '/elsewhere' })).status).toBe(404);
    // Valid credentials, but a handshake ws would refuse: refused before admission.
    expect(await rawStatus(upgradeHead('POST', 'm0', tokens.m0 ?? ''))).toBe(405);
    const s1 = await scrape();
    expect(s1.value(REFUSALS, { reason: 'unknown_worker' })).toBe(s0.value(REFUSALS, { reason: 'unknown_worker' }) + 1);
    expect(s1.value(REFUSALS, { reason: 'unauthorized' })).toBe(s0.value(REFUSALS, { reason: 'unauthorized' }) + 1);
    expect(s1.value(REFUSALS, { reason: 'bad_path' })).toBe(s0.value(REFUSALS, { reason: 'bad_path' }) + 1);
    expect(s1.value(REFUSALS, { reason: 'bad_handshake' })).toBe(s0.value(REFUSALS, { reason: 'bad_handshake' }) + 1);
    expect(s1.value(REFUSALS)).toBe(s0.value(REFUSALS) + 4);
    expect(s1.value(ADMISSIONS)).toBe(s0.value(ADMISSIONS));
  });

  test('requests that never become an upgrade count by reason', async () => {
    const s0 = await scrape();
    expect((await fetch(`${m.http}/agent`)).status).toBe(426);
    expect((await fetch(`${m.http}/metrics`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${m.http}/nope`)).status).toBe(404);
    expect(await rawStatus('CONNECT 10.0.0.1:22 HTTP/1.1\r\nHost: 10.0.0.1:22\r\n\r\n')).toBe(405);
    expect(await rawStatus('GET /agent HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n')).toBe(400);
    expect(await rawStatus(`GET /agent HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`)).toBe(431);
    const s1 = await scrape();
    for (const reason of ['upgrade_required', 'method_not_allowed', 'not_found', 'connect', 'bad_request', 'header_too_large']) {
      expect(s1.value(HTTP_REFUSALS, { reason }), reason).toBe(s0.value(HTTP_REFUSALS, { reason }) + 1);
    }
    expect(s1.value(REFUSALS)).toBe(s0.value(REFUSALS));
  });
});

test('database write errors: the database goes away under a connected agent', async () => {
  const dev = await ownDevDb('metrics');
  const admin = new MongoClient(dev.uri, { serverSelectionTimeoutMS: 2_000 });
  let own: RunningMaster | undefined;
  try {
    await dev.start();
    const db = admin.db(h.test.name);
    const registry = createWorkerRegistry(db);
    await registry.ensureCollections();
    await registry.registerWorker('e1', '127.0.0.1');
    const token = await createCredentialStore(db).issue('e1');
    own = await h.startMaster({}, { uri: dev.uri });
    const master = own;
    const ownScrape = (): Promise<Scrape> => Scrape.of(master.http);
    const agent = await RawAgent.admitted(own.url, { workerId: 'e1', token });
    agent.startBeating(100);
    await waitFor('a heartbeat written', async () => (await ownScrape()).value(WRITES, { op: 'heartbeat' }) > 0);
    const before = await ownScrape();
    expect(before.value(WRITE_ERRORS)).toBe(0);

    await dev.crash();
    const after = await waitFor(
      'heartbeat writes failing',
      async () => {
        const s = await ownScrape();
        return s.value(WRITE_ERRORS, { op: 'heartbeat' }) > 0 ? s : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    // A failed write is timed too, and the agent stays connected through the outage.
    expect(after.value(WRITES, { op: 'heartbeat' })).toBeGreaterThan(before.value(WRITES, { op: 'heartbeat' }));
    expect(after.value(CONNECTED)).toBe(1);
    agent.destroy();
  } finally {
    // Back up, so the master's final flush and client close do not wait on a dead server.
    await dev.start();
    await own?.close();
    await admin.close();
    await dev.remove();
  }
});

function upgradeHead(method: string, workerId: string, token: string): string {
  return (
    `${method} /agent HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
    `x-protocol-version: ${PROTOCOL_VERSION}\r\nx-worker-id: ${workerId}\r\nAuthorization: Bearer ${token}\r\n\r\n`
  );
}

/** Sends raw bytes, reads until the master closes; the status of its answer. */
function rawStatus(request: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = connect(m.port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString('latin1')));
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1]) || undefined));
    socket.on('error', () => undefined);
    socket.write(request);
  });
}
