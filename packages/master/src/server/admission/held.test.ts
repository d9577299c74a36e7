import { PROTOCOL_VERSION } from '@cluster/protocol';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { hashToken } from '../../registry/token.js';
import type { AdmissionRecord } from '../ports.js';
import { createMaster, type Master } from '../master.js';
import type { ServerOptions } from '../options.js';
import { FakeRegistry, ManualClock, captureLogger } from '../test-support/fakes.js';

/**
 * Upgrades held while the master cannot take them (upgrade.ts, held-upgrades.ts):
 * real sockets on port 0, the master over a fake registry whose admission view
 * loads when the test says so.
 */
const TOKEN = 'unit-test-token-0123456789abcdef';
let master: Master | undefined;
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await master?.close();
  master = undefined;
});

/** A registry whose admission view is read only once load() is called: the master's start-up stays "loading" until then. */
class SlowViewRegistry extends FakeRegistry {
  load: () => void = () => undefined;
  readonly #loaded = new Promise<void>((resolve) => {
    this.load = resolve;
  });

  override async listAdmissionView(): Promise<AdmissionRecord[]> {
    await this.#loaded;
    return super.listAdmissionView();
  }
}

async function start(registry: FakeRegistry, options: Partial<ServerOptions>, clock?: ManualClock): Promise<{ port: number; m: Master }> {
  for (const id of ['w1', 'w2', 'w3']) registry.add(id, '127.0.0.1', hashToken(TOKEN));
  const { logger } = captureLogger();
  const m = createMaster({
    registry,
    credentials: registry,
    logger,
    ...(clock === undefined ? {} : { clock }),
    // The system clock (unless given): close() waits the hand-over grace (10 ms here) for a welcomed worker.
    options: { host: '127.0.0.1', port: 0, checkSourceAddress: false, handoverGraceMs: 10, ...options },
  });
  master = m;
  const { port } = await m.start();
  return { port, m };
}

/** Opens an upgrade for `workerId`: 'open' (admitted, no hello sent yet) or the refusal's status and Retry-After. */
function upgrade(port: number, workerId: string): { ws: WebSocket; got: Promise<string> } {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/agent`, {
    headers: { 'x-protocol-version': String(PROTOCOL_VERSION), 'x-worker-id': workerId, authorization: `Bearer ${TOKEN}` },
  });
  sockets.push(ws);
  const got = new Promise<string>((resolve) => {
    ws.once('open', () => resolve('open'));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(`${res.statusCode ?? 0} retry-after ${String(res.headers['retry-after'])} ${body.trim()}`));
    });
    ws.once('error', (error) => resolve(`error ${error.message}`));
  });
  return { ws, got };
}

function hello(ws: WebSocket, workerId: string): Promise<unknown> {
  const welcome = new Promise((resolve) => ws.once('message', resolve));
  ws.send(JSON.stringify({ type: 'hello', protocol_version: PROTOCOL_VERSION, worker_id: workerId, agent_version: 't', specs: { total_cpu: 1, total_memory: 1, total_storage: 1, total_gpu: 0 } }));
  return welcome;
}

async function gauge(m: Master, name: string): Promise<number> {
  const metric = await m.metricsRegistry.getSingleMetric(name)?.get();
  return metric?.values[0]?.value ?? 0;
}

/** Waits until `n` upgrades are held (polled every 5 ms: a held upgrade is a matter of milliseconds here). */
async function heldNow(m: Master, n: number): Promise<void> {
  await expect.poll(() => gauge(m, 'cluster_master_upgrades_held'), { interval: 5 }).toBe(n);
}

async function holds(m: Master): Promise<Record<string, number>> {
  const metric = await m.metricsRegistry.getSingleMetric('cluster_master_upgrade_holds_total')?.get();
  return Object.fromEntries((metric?.values ?? []).map((v) => [String(v.labels.outcome), v.value]));
}

describe('held upgrades', () => {
  test('an upgrade that comes while the view loads is held, and admitted once it is loaded (no 503)', async () => {
    const registry = new SlowViewRegistry();
    const { port, m } = await start(registry, {});
    expect(m.notReadyReason()).toBe('registry not loaded yet');
    const first = upgrade(port, 'w1');
    await heldNow(m, 1);
    registry.load();
    expect(await first.got).toBe('open');
    await hello(first.ws, 'w1');
    expect(await holds(m)).toEqual({ taken: 1 });
    expect(await gauge(m, 'cluster_master_upgrades_held')).toBe(0);
  });

  test('one held past upgradeHoldMs is answered 503 with the Retry-After it would have had', async () => {
    const clock = new ManualClock();
    const { port, m } = await start(new SlowViewRegistry(), { upgradeHoldMs: 3_000 }, clock);
    const held = upgrade(port, 'w1');
    await heldNow(m, 1);
    await clock.advanceAsync(2_999);
    expect(await gauge(m, 'cluster_master_upgrades_held')).toBe(1);
    await clock.advanceAsync(1);
    expect(await held.got).toBe('503 retry-after 2 registry not loaded yet');
    expect(await holds(m)).toEqual({ expired: 1 });
  });

  test('a database outage while the view loads ends the holding: held upgrades are refused at once, with no Retry-After', async () => {
    const registry = new SlowViewRegistry();
    const { port, m } = await start(registry, {});
    const held = upgrade(port, 'w1');
    await heldNow(m, 1);
    registry.failing = true;
    registry.load();
    // The load's end is unknown now: the agent keeps its own backoff, as an upgrade arriving now is told.
    expect(await held.got).toBe('503 retry-after undefined registry not loaded yet');
    expect(await upgrade(port, 'w2').got).toBe('503 retry-after undefined registry not loaded yet');
    expect(await holds(m)).toEqual({ taken: 1 });
  });

  test('past maxAdmissionsInFlight an upgrade is held, and admitted when one in flight says hello', async () => {
    const { port, m } = await start(new FakeRegistry(), { maxAdmissionsInFlight: 1 });
    await expect.poll(() => m.notReadyReason(), { interval: 5 }).toBeNull();
    const first = upgrade(port, 'w1');
    expect(await first.got).toBe('open');
    const second = upgrade(port, 'w2');
    await heldNow(m, 1);
    // A third waits behind the second, in arrival order.
    const third = upgrade(port, 'w3');
    await heldNow(m, 2);
    await hello(first.ws, 'w1');
    expect(await second.got).toBe('open');
    expect(await gauge(m, 'cluster_master_upgrades_held')).toBe(1);
    second.ws.terminate();
    expect(await third.got).toBe('open');
    await hello(third.ws, 'w3');
  });

  test('past maxHeldUpgrades an upgrade is refused at once (busy); a held one whose peer leaves is dropped', async () => {
    const { port, m } = await start(new FakeRegistry(), { maxAdmissionsInFlight: 1, maxHeldUpgrades: 1 });
    await expect.poll(() => m.notReadyReason(), { interval: 5 }).toBeNull();
    expect(await upgrade(port, 'w1').got).toBe('open');
    const held = upgrade(port, 'w2');
    await heldNow(m, 1);
    expect(await upgrade(port, 'w3').got).toBe('503 retry-after 2 master busy admitting other agents; try again later');
    held.ws.terminate();
    await heldNow(m, 0);
    expect(await holds(m)).toEqual({ gone: 1 });
    const refusals = await m.metricsRegistry.getSingleMetric('cluster_master_refusals_total')?.get();
    expect(refusals?.values.map((v) => [v.labels.reason, v.value])).toEqual([['busy', 1]]);
  });

  test('a flood of unregistered upgrades while the view loads: at most maxHeldUpgrades held, the rest refused at once; one that sends bytes while held is cut off', async () => {
    const registry = new SlowViewRegistry();
    const { port, m } = await start(registry, { maxHeldUpgrades: 50 });
    const flood = Array.from({ length: 200 }, (_, i) => upgrade(port, `stranger-${i}`));
    await heldNow(m, 50);
    const answers = await Promise.all(flood.slice(50).map((u) => u.got));
    expect(answers.every((a) => a.startsWith('503 '))).toBe(true);
    expect(await gauge(m, 'cluster_master_upgrades_held')).toBe(50);
    // A peer that leaves frees its place; one that sends bytes before its 101 (a client sends none,
    // RFC 6455 4.1) is cut off, and its place freed too.
    flood[0]?.ws.terminate();
    await heldNow(m, 49);
    const raw = connect(port, '127.0.0.1');
    raw.on('error', () => undefined);
    const cut = new Promise((resolve) => raw.once('close', resolve));
    raw.write(`GET /agent HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nx-protocol-version: ${PROTOCOL_VERSION}\r\nx-worker-id: stranger-raw\r\nauthorization: Bearer ${TOKEN}\r\n\r\n`);
    await heldNow(m, 50);
    raw.write('not a websocket frame');
    await cut;
    await heldNow(m, 49);
    registry.load();
    const rest = await Promise.all(flood.slice(1, 50).map((u) => u.got));
    expect(rest.filter((a) => a === 'open')).toEqual([]);
    expect(await holds(m)).toEqual({ gone: 2, taken: 49 });
  });

  test('a master that closes answers its held upgrades 503 shutting down', async () => {
    const { port, m } = await start(new SlowViewRegistry(), {});
    const held = upgrade(port, 'w1');
    await heldNow(m, 1);
    const closed = m.close();
    expect(await held.got).toBe('503 retry-after undefined master shutting down');
    await closed;
    expect(await holds(m)).toEqual({ shutdown: 1 });
  });
});
