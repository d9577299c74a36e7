import { PROTOCOL_VERSION } from '@cluster/protocol';
import { afterEach, expect, test } from 'vitest';
import WebSocket from 'ws';
import { hashToken } from '../registry/token.js';
import { createMaster, type Master } from './master.js';
import { FakeRegistry, ManualClock, captureLogger } from './test-support/fakes.js';

/**
 * createMaster over a fake registry that can fail on demand: the database
 * rules that are hard to provoke on a real database, checked with real
 * sockets. The master's own time is a manual clock: the test moves it, and
 * the agent beats once per 100 ms of it (and waits for each ack).
 */
const TOKEN = 'unit-test-token-0123456789abcdef';
const STEP_MS = 50;
const BEAT_MS = 100;
let master: Master | undefined;
afterEach(async () => {
  await master?.close();
});

async function start(registry: FakeRegistry, clock: ManualClock) {
  const { logger, lines } = captureLogger();
  master = createMaster({
    registry,
    credentials: registry,
    logger,
    clock,
    options: {
      host: '127.0.0.1',
      port: 0,
      heartbeatIntervalMs: BEAT_MS,
      heartbeatTimeoutMs: 400,
      flushIntervalMs: 50,
      sweepIntervalMs: 50,
      viewRefreshMs: 200,
      retryBaseMs: 50,
      retryCapMs: 100,
      checkSourceAddress: false,
      // Refused at once, as a held upgrade is once its hold is over (held.test.ts): the Retry-After told is what these tests read.
      maxHeldUpgrades: 0,
    },
  });
  const { port } = await master.start();
  return { port, lines, master };
}

/** A raw agent that has said hello; beat() sends a heartbeat and resolves with its ack. */
async function agent(port: number, workerId: string): Promise<{ ws: WebSocket; beat: () => Promise<void> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/agent`, {
    headers: { 'x-protocol-version': String(PROTOCOL_VERSION), 'x-worker-id': workerId, authorization: `Bearer ${TOKEN}` },
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const welcome = new Promise((resolve) => ws.once('message', resolve));
  ws.send(
    JSON.stringify({
      type: 'hello',
      protocol_version: PROTOCOL_VERSION,
      worker_id: workerId,
      agent_version: 't',
      specs: { total_cpu: 1, total_memory: 1, total_storage: 1, total_gpu: 0 },
    }),
  );
  await welcome;
  let seq = 0;
  const beat = async (): Promise<void> => {
    const acked = new Promise((resolve) => ws.once('message', resolve));
    ws.send(JSON.stringify({ type: 'heartbeat', seq: ++seq }));
    await acked;
  };
  return { ws, beat };
}

/** Moves the master's clock by `ms` in steps, the agent (if any) beating every BEAT_MS of it. */
async function run(clock: ManualClock, ms: number, beat?: () => Promise<void>): Promise<void> {
  for (let passed = 0; passed < ms; passed += STEP_MS) {
    if (beat !== undefined && passed % BEAT_MS === 0) await beat();
    await clock.advanceAsync(STEP_MS);
  }
}

/** Runs the clock until `check` holds, at most `ms` of it. */
async function until(what: string, clock: ManualClock, check: () => boolean, beat?: () => Promise<void>, ms = 3_000): Promise<void> {
  for (let passed = 0; !check(); passed += STEP_MS) {
    if (passed > ms) throw new Error(`no ${what} within ${ms} ms of the master's clock`);
    await run(clock, STEP_MS, beat);
  }
}

test('no sweep while heartbeats cannot be written, and none for one timeout after the database is back', async () => {
  const registry = new FakeRegistry();
  registry.add('w1', '127.0.0.1', hashToken(TOKEN));
  const clock = new ManualClock();
  const { port } = await start(registry, clock);
  await until('load', clock, () => master?.notReadyReason() === null);
  const { ws, beat } = await agent(port, 'w1');
  await until('sweeps', clock, () => registry.count('sweepStale') >= 2, beat);

  registry.failing = true;
  await until('outage seen', clock, () => master?.notReadyReason() === 'database unreachable', beat);
  expect(await master?.metricsRegistry.getSingleMetricAsString('cluster_master_ready')).toMatch(/^cluster_master_ready 0$/m);
  const sweepsAtFailure = registry.count('sweepStale');
  const heartbeatAttempts = registry.count('recordHeartbeats');
  await run(clock, 1_000, beat); // 2.5 timeouts of outage
  expect(registry.count('recordHeartbeats')).toBeGreaterThan(heartbeatAttempts + 3); // retried
  expect(registry.count('sweepStale')).toBeLessThanOrEqual(sweepsAtFailure + 1); // at most one in flight as it began

  registry.failing = false;
  const recoveredAt = clock.monoMs;
  await until('ready', clock, () => master?.notReadyReason() === null, beat);
  expect(await master?.metricsRegistry.getSingleMetricAsString('cluster_master_ready')).toMatch(/^cluster_master_ready 1$/m);
  const sweepsAtRecovery = registry.count('sweepStale');
  await until('sweeping again', clock, () => registry.count('sweepStale') > sweepsAtRecovery, beat);
  expect(clock.monoMs - recoveredAt).toBeGreaterThanOrEqual(400);
  // Every sweep after the outage came after a successful heartbeat write.
  const ops = registry.calls.map((c) => c.op).filter((op) => op === 'recordHeartbeats' || op === 'sweepStale');
  expect(ops.at(-1)).toBe('sweepStale');
  expect(registry.docs.get('w1')?.is_active).toBe(true);
  ws.close();
  // close() waits the hand-over grace on the master's clock: move it until close() is done.
  let closed = false;
  const closing = master?.close().then(() => (closed = true));
  while (!closed) await clock.advanceAsync(STEP_MS);
  await closing;
});

test('close() is idempotent and resolves when everything is released', async () => {
  const registry = new FakeRegistry();
  const { port } = await start(registry, new ManualClock());
  const first = master?.close();
  expect(master?.close()).toBe(first);
  await first;
  await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
});

/** An upgrade refused by the master: its status and Retry-After header. */
function refusedUpgrade(port: number, workerId: string): Promise<{ status: number; retryAfter: string | undefined }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/agent`, {
    headers: { 'x-protocol-version': String(PROTOCOL_VERSION), 'x-worker-id': workerId, authorization: `Bearer ${TOKEN}` },
  });
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      const retryAfter = res.headers['retry-after'];
      resolve({ status: res.statusCode ?? 0, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined });
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => reject(new Error('admitted')));
    ws.once('error', () => undefined);
  });
}

test('a view that loads slowly: agents are told when to come back (503, Retry-After), and the first sweep is one timeout after the view loaded, not after the start', async () => {
  const registry = new FakeRegistry();
  registry.add('w1', '127.0.0.1', hashToken(TOKEN));
  const clock = new ManualClock();
  // w1 beat just before this master started (a quick restart): active, its heartbeat younger than the timeout.
  const doc = registry.docs.get('w1');
  if (doc === undefined) throw new Error('missing');
  doc.is_active = true;
  doc.last_heartbeat = Math.floor(clock.wallMs / 1000);
  registry.hold();
  const { port } = await start(registry, clock);
  // Everything but the view's load goes through; the load takes 3 s (7.5 timeouts) of the master's clock.
  const letThrough = (): void => {
    for (const op of ['ensureCollections', 'sweepStale', 'recordHeartbeats', 'markInactive'] as const) registry.releaseOnly(op);
  };
  for (let passed = 0; passed < 3_000; passed += STEP_MS) {
    letThrough();
    await clock.advanceAsync(STEP_MS);
  }
  expect(master?.notReadyReason()).toBe('registry not loaded yet');
  expect(await refusedUpgrade(port, 'w1')).toEqual({ status: 503, retryAfter: '2' });
  // The database failing meanwhile (the load's end unknown): no hint, the agents keep their own backoff.
  registry.failing = true;
  registry.releaseOnly('listAdmissionView');
  registry.releaseOnly('loadAll');
  await until('the failed load seen', clock, () => registry.count('listAdmissionView') >= 2, undefined, 5_000);
  expect(await refusedUpgrade(port, 'w1')).toEqual({ status: 503, retryAfter: undefined });
  registry.failing = false;
  // Only the sweep at start ran: a sweep timed from the start would have flagged w1 by now, its agent kept out by the load.
  expect(registry.count('sweepStale')).toBe(1);
  expect(doc.is_active).toBe(true);

  // The held load completes on release, before the clock moves again.
  const loadedAt = clock.monoMs;
  registry.release();
  await until('load', clock, () => master?.notReadyReason() === null);
  const { ws, beat } = await agent(port, 'w1');
  await until('the first regular sweep', clock, () => registry.count('sweepStale') >= 2, beat);
  expect(clock.monoMs - loadedAt).toBeGreaterThanOrEqual(400);
  expect(doc.is_active).toBe(true);
  ws.close();
  let closed = false;
  const closing = master?.close().then(() => (closed = true));
  while (!closed) await clock.advanceAsync(STEP_MS);
  await closing;
});

test('an agent admitted at the upgrade that gives up before its welcome (a storm) is spared by the sweep for one timeout after it knocked, then judged', async () => {
  const registry = new FakeRegistry();
  registry.add('w1', '127.0.0.1', hashToken(TOKEN));
  const clock = new ManualClock();
  const doc = registry.docs.get('w1');
  if (doc === undefined) throw new Error('missing');
  doc.is_active = true;
  const beatAtMs = clock.wallMs;
  doc.last_heartbeat = Math.floor(beatAtMs / 1000); // beat just before the restart
  await start(registry, clock);
  await until('load', clock, () => master?.notReadyReason() === null);
  const port = master?.address()?.port ?? 0;
  // Sweeps run from one timeout (400 ms) after the load; from 2.4 s after its beat, w1's heartbeat is old enough to flag.
  await run(clock, beatAtMs + 2_350 - clock.wallMs);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/agent`, {
    headers: { 'x-protocol-version': String(PROTOCOL_VERSION), 'x-worker-id': 'w1', authorization: `Bearer ${TOKEN}` },
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const knockedAt = clock.monoMs;
  ws.terminate(); // no hello: it gave up waiting
  const sweeps = registry.count('sweepStale');
  await until('a sweep after the knock', clock, () => registry.count('sweepStale') > sweeps);
  expect(registry.calls.filter((c) => c.op === 'sweepStale').at(-1)).toMatchObject({ spared: ['w1'] });
  expect(doc.is_active).toBe(true);
  // One timeout after it knocked, nobody has written it: flagged.
  await until('w1 flagged', clock, () => !doc.is_active);
  expect(clock.monoMs - knockedAt).toBeGreaterThan(400);
  let closed = false;
  const closing = master?.close().then(() => (closed = true));
  while (!closed) await clock.advanceAsync(STEP_MS);
  await closing;
});
