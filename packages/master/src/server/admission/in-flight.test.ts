import { PROTOCOL_VERSION } from '@cluster/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { hashToken } from '../../registry/token.js';
import { createMaster, type Master } from '../master.js';
import { FakeRegistry, captureLogger } from '../test-support/fakes.js';

/**
 * The admission in-flight limit (upgrade.ts #busy): real sockets on port 0, the
 * master over a fake registry (the storm of `pnpm bench` runs it on the dev database).
 */
const TOKEN = 'unit-test-token-0123456789abcdef';
let master: Master | undefined;
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await master?.close();
  master = undefined;
});

async function start(maxAdmissionsInFlight: number): Promise<number> {
  const registry = new FakeRegistry();
  for (const id of ['w1', 'w2', 'w3']) registry.add(id, '127.0.0.1', hashToken(TOKEN));
  const { logger } = captureLogger();
  master = createMaster({
    registry,
    credentials: registry,
    logger,
    // The system clock: close() waits the hand-over grace (10 ms here) for the welcomed worker.
    // Nothing held (held.test.ts holds): past the bound an upgrade is refused at once, as with holding once the queue is full.
    options: { host: '127.0.0.1', port: 0, checkSourceAddress: false, maxAdmissionsInFlight, maxHeldUpgrades: 0, handoverGraceMs: 10 },
  });
  const { port } = await master.start();
  await expect.poll(() => master?.notReadyReason()).toBeNull();
  return port;
}

/** Opens an upgrade for `workerId`: 'open' (admitted, no hello sent yet) or the refusal's status and Retry-After. */
function upgrade(port: number, workerId: string): Promise<{ ws: WebSocket; got: string }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/agent`, {
    headers: { 'x-protocol-version': String(PROTOCOL_VERSION), 'x-worker-id': workerId, authorization: `Bearer ${TOKEN}` },
  });
  sockets.push(ws);
  return new Promise((resolve) => {
    ws.once('open', () => resolve({ ws, got: 'open' }));
    ws.once('unexpected-response', (_req, res) => resolve({ ws, got: `${res.statusCode ?? 0} retry-after ${String(res.headers['retry-after'])}` }));
    ws.once('error', (error) => resolve({ ws, got: `error ${error.message}` }));
  });
}

function hello(ws: WebSocket, workerId: string): Promise<unknown> {
  const welcome = new Promise((resolve) => ws.once('message', resolve));
  ws.send(JSON.stringify({ type: 'hello', protocol_version: PROTOCOL_VERSION, worker_id: workerId, agent_version: 't', specs: { total_cpu: 1, total_memory: 1, total_storage: 1, total_gpu: 0 } }));
  return welcome;
}

describe('admissions in flight', () => {
  test('past the limit an upgrade is answered 503 with Retry-After; once the others said hello it is admitted', async () => {
    const port = await start(2);
    const first = await upgrade(port, 'w1');
    const second = await upgrade(port, 'w2');
    expect([first.got, second.got]).toEqual(['open', 'open']);
    // Two admitted sessions wait for their hello: the third upgrade is refused before any admission work.
    expect((await upgrade(port, 'w3')).got).toBe('503 retry-after 2');
    // Counted apart from the loading refusals.
    const refusals = await master?.metricsRegistry.getSingleMetric('cluster_master_refusals_total')?.get();
    expect(refusals?.values.map((v) => [v.labels.reason, v.value])).toEqual([['busy', 1]]);
    await hello(first.ws, 'w1');
    expect((await upgrade(port, 'w3')).got).toBe('open');
  });

  test('an admitted session that went away without its hello frees its place', async () => {
    const port = await start(1);
    const first = await upgrade(port, 'w1');
    expect((await upgrade(port, 'w2')).got).toBe('503 retry-after 2');
    first.ws.terminate();
    await expect.poll(async () => (await upgrade(port, 'w2')).got).toBe('open');
  });

  test('one worker holds at most one place: its newer connection replaces the older one still waiting for its hello', async () => {
    const port = await start(2);
    const first = await upgrade(port, 'w1');
    const closed = new Promise<number>((resolve) => first.ws.once('close', (code) => resolve(code)));
    // Without the per-worker rule this is the second place taken, and w2 below would be refused.
    const again = await upgrade(port, 'w1');
    expect(again.got).toBe('open');
    expect(await closed).toBe(4409);
    expect((await upgrade(port, 'w2')).got).toBe('open');
    await hello(again.ws, 'w1');
  });
});
