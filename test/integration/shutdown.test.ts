import { CloseCode } from '@cluster/protocol';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { realAgent } from './helpers/agents.js';
import { openHarness, waitFor, type Harness } from './helpers/harness.js';
import { RawAgent } from './helpers/raw-agent.js';

let h: Harness;
beforeEach(async () => {
  h = await openHarness();
});
afterEach(async () => {
  await h.close();
});

test('close(): agents closed 4503, pending heartbeats written, nobody flagged, within 5 s, idempotent', async () => {
  const tokens = await Promise.all(['g1', 'g2', 'g3'].map((id) => h.register(id)));
  // A flush interval longer than the test: only the final flush can write the heartbeats.
  const m = await h.startMaster({ flushIntervalMs: 60_000, closeGraceMs: 1_000 });
  const agents = await Promise.all(['g1', 'g2'].map((id, i) => RawAgent.admitted(m.url, { workerId: id, token: tokens[i] ?? '' })));
  for (const a of agents) await a.heartbeat();
  // g3 stops reading: its close handshake never completes, so the master must drop it itself.
  const stuck = await RawAgent.admitted(m.url, { workerId: 'g3', token: tokens[2] ?? '' });
  (stuck.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  expect(await h.worker('g1')).toMatchObject({ is_active: false, last_heartbeat: 0 });

  const started = performance.now();
  const closing = m.master.close();
  expect(m.master.close()).toBe(closing);
  await closing;
  const took = performance.now() - started;
  expect(took).toBeLessThan(5_000);

  for (const a of agents) expect(await a.closed).toEqual({ code: CloseCode.shuttingDown, reason: 'shutting down' });
  for (const id of ['g1', 'g2', 'g3']) {
    const w = await h.worker(id);
    expect(w?.is_active, id).toBe(true);
    expect(w?.last_heartbeat).toBeGreaterThan(0);
  }
  expect(m.logs.filter((l) => l.msg === 'workers flagged inactive')).toEqual([]);
  expect(m.logs.at(-1)?.msg).toBe('closed');
  // The port is released: nothing listens any more.
  await expect(fetch(`${m.http}/healthz`)).rejects.toThrow();
});

test('the real agent reconnects to the master that takes over the port, without ever being inactive', async () => {
  const token = await h.register('ra');
  const first = await h.startMaster();
  const agent = realAgent(first.url, 'ra', token);
  await agent.start();
  await waitFor('active', async () => (await h.worker('ra'))?.is_active === true);
  await first.close();
  const second = await h.startMaster({}, { port: first.port });
  await waitFor('admitted by the second master', () => second.logs.some((l) => l.msg === 'admitted' && l.worker_id === 'ra'), {
    timeoutMs: 3_000,
  });
  expect((await h.worker('ra'))?.is_active).toBe(true);
  // A clean stop of the agent: inactive within a second.
  const stoppedAt = performance.now();
  await agent.close();
  await waitFor('inactive', async () => (await h.worker('ra'))?.is_active === false, { timeoutMs: 1_000, intervalMs: 10 });
  expect(performance.now() - stoppedAt).toBeLessThan(1_000);
});
