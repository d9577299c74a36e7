import { PROTOCOL_VERSION } from '@cluster/protocol';
import { afterEach, expect, test } from 'vitest';
import WebSocket from 'ws';
import { hashToken } from '../registry/token.js';
import { createMaster, type Master } from './master.js';
import { FakeRegistry, captureLogger } from './test-support/fakes.js';

/**
 * createMaster over a fake registry that can fail on demand: the database
 * rules that are hard to provoke on a real database, checked with real sockets.
 */
const TOKEN = 'unit-test-token-0123456789abcdef';
let master: Master | undefined;
afterEach(async () => {
  await master?.close();
});

async function start(registry: FakeRegistry) {
  const { logger, lines } = captureLogger();
  master = createMaster({
    registry,
    credentials: registry,
    logger,
    options: {
      host: '127.0.0.1',
      port: 0,
      heartbeatIntervalMs: 100,
      heartbeatTimeoutMs: 400,
      flushIntervalMs: 50,
      sweepIntervalMs: 50,
      viewRefreshMs: 200,
      retryBaseMs: 50,
      retryCapMs: 100,
      checkSourceAddress: false,
    },
  });
  const { port } = await master.start();
  return { port, lines, master };
}

async function agent(port: number, workerId: string): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/agent`, {
    headers: { 'x-protocol-version': String(PROTOCOL_VERSION), 'x-worker-id': workerId, authorization: `Bearer ${TOKEN}` },
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(
    JSON.stringify({
      type: 'hello',
      protocol_version: PROTOCOL_VERSION,
      worker_id: workerId,
      agent_version: 't',
      specs: { total_cpu: 1, total_memory: 1, total_storage: 1, total_gpu: 0 },
    }),
  );
  let seq = 0;
  const timer = setInterval(() => ws.send(JSON.stringify({ type: 'heartbeat', seq: ++seq })), 100);
  ws.on('close', () => clearInterval(timer));
  return ws;
}

const until = async (what: string, check: () => boolean, ms = 3_000): Promise<void> => {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('no sweep while heartbeats cannot be written, and none for one timeout after the database is back', async () => {
  const registry = new FakeRegistry();
  registry.add('w1', '127.0.0.1', hashToken(TOKEN));
  const { port } = await start(registry);
  await until('loaded', () => master?.notReadyReason() === null);
  const ws = await agent(port, 'w1');
  await until('sweeping', () => registry.count('sweepStale') >= 2);

  registry.failing = true;
  await until('not ready', () => master?.notReadyReason() === 'database unreachable');
  const sweepsAtFailure = registry.count('sweepStale');
  const heartbeatAttempts = registry.count('recordHeartbeats');
  await new Promise((r) => setTimeout(r, 1_000)); // 2.5 timeouts of outage
  expect(registry.count('recordHeartbeats')).toBeGreaterThan(heartbeatAttempts + 3); // retried
  expect(registry.count('sweepStale')).toBeLessThanOrEqual(sweepsAtFailure + 1); // at most one in flight as it began

  registry.failing = false;
  const recoveredAt = performance.now();
  await until('ready', () => master?.notReadyReason() === null);
  const sweepsAtRecovery = registry.count('sweepStale');
  await until('sweeping again', () => registry.count('sweepStale') > sweepsAtRecovery);
  expect(performance.now() - recoveredAt).toBeGreaterThanOrEqual(400);
  // Every sweep after the outage came after a successful heartbeat write.
  const ops = registry.calls.map((c) => c.op).filter((op) => op === 'recordHeartbeats' || op === 'sweepStale');
  expect(ops.at(-1)).toBe('sweepStale');
  expect(registry.docs.get('w1')?.is_active).toBe(true);
  ws.close();
});

test('close() is idempotent and resolves when everything is released', async () => {
  const registry = new FakeRegistry();
  const { port } = await start(registry);
  const first = master?.close();
  expect(master?.close()).toBe(first);
  await first;
  await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
});
