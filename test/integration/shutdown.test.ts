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

test('close(): agents closed 4503, then, none having reached another master, flagged after the hand-over grace; idempotent', async () => {
  const tokens = await Promise.all(['g1', 'g2', 'g3'].map((id) => h.register(id)));
  const graceMs = 500;
  const m = await h.startMaster({ closeGraceMs: 1_000, handoverGraceMs: graceMs });
  const agents = await Promise.all(['g1', 'g2'].map((id, i) => RawAgent.admitted(m.url, { workerId: id, token: tokens[i] ?? '' })));
  for (const a of agents) await a.heartbeat();
  // g3 stops reading: its close handshake never completes, so the master must drop it itself.
  const stuck = await RawAgent.admitted(m.url, { workerId: 'g3', token: tokens[2] ?? '' });
  (stuck.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  await waitFor('all active', async () => (await Promise.all(['g1', 'g2', 'g3'].map((id) => h.worker(id)))).every((w) => w?.is_active === true));

  const started = performance.now();
  const closing = m.master.close();
  expect(m.master.close()).toBe(closing);
  for (const a of agents) expect(await a.closed).toEqual({ code: CloseCode.shuttingDown, reason: 'shutting down' });
  // Still active while the agents have their chance to move.
  expect((await h.worker('g1'))?.is_active).toBe(true);
  await closing;
  const took = performance.now() - started;
  expect(took).toBeGreaterThanOrEqual(graceMs);
  expect(took).toBeLessThan(graceMs + 5_000);

  for (const id of ['g1', 'g2', 'g3']) expect((await h.worker(id))?.is_active, id).toBe(false);
  expect(m.logs.filter((l) => l.msg === 'workers flagged inactive')).toMatchObject([{ cause: 'handover', count: 3 }]);
  expect(m.logs.at(-1)?.msg).toBe('closed');
  // The port is released: nothing listens any more.
  await expect(fetch(`${m.http}/healthz`)).rejects.toThrow();
});

test('a master with no sessions closes at once (no hand-over grace)', async () => {
  const m = await h.startMaster({ handoverGraceMs: 5_000 });
  const started = performance.now();
  await m.master.close();
  expect(performance.now() - started).toBeLessThan(2_000);
});

test('the real agent reconnects to a master started on the port during the hand-over grace, without ever being inactive', async () => {
  const token = await h.register('ra');
  const first = await h.startMaster();
  const agent = realAgent(first.url, 'ra', token);
  await agent.start();
  await waitFor('active', async () => (await h.worker('ra'))?.is_active === true);
  const closing = first.close();
  await waitFor('the first master hands over', () => first.logs.some((l) => l.msg === 'handing workers over to other masters'));
  const second = await h.startMaster({}, { port: first.port });
  await waitFor('admitted by the second master', () => second.logs.some((l) => l.msg === 'admitted' && l.worker_id === 'ra'), {
    timeoutMs: 3_000,
  });
  // Polled until a second after the first master's exit: its flag must leave the worker alone.
  const seen: (boolean | undefined)[] = [];
  let done = false;
  void closing.then(() => setTimeout(() => (done = true), 1_000));
  while (!done) {
    seen.push((await h.worker('ra'))?.is_active);
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(seen.length).toBeGreaterThan(10);
  expect(seen.filter((a) => a !== true)).toEqual([]);
  // The line and the metric count what the flag changed: nothing, the worker moved.
  expect(first.logs.filter((l) => l.msg === 'workers flagged inactive')).toMatchObject([{ cause: 'handover', count: 0, queued: 1 }]);
  expect((await first.master.metrics.workersFlaggedInactive.get()).values.filter((v) => v.labels.cause === 'handover' && v.value > 0)).toEqual([]);
  // A clean stop of the agent: inactive within a second.
  const stoppedAt = performance.now();
  await agent.close();
  await waitFor('inactive', async () => (await h.worker('ra'))?.is_active === false, { timeoutMs: 1_000, intervalMs: 10 });
  expect(performance.now() - stoppedAt).toBeLessThan(1_000);
});

test('close({ plannedRestart }): agents closed 4503 "restarting", no hand-over grace, nobody flagged', async () => {
  const tokens = await Promise.all(['p1', 'p2'].map((id) => h.register(id)));
  const graceMs = 3_000;
  const m = await h.startMaster({ handoverGraceMs: graceMs });
  const agents = await Promise.all(['p1', 'p2'].map((id, i) => RawAgent.admitted(m.url, { workerId: id, token: tokens[i] ?? '' })));
  for (const a of agents) await a.heartbeat();
  await waitFor('both active', async () => (await Promise.all(['p1', 'p2'].map((id) => h.worker(id)))).every((w) => w?.is_active === true));

  const started = performance.now();
  const closing = m.master.close({ plannedRestart: true });
  // The first call decides: a second close() (the harness's) is the same shutdown.
  expect(m.master.close()).toBe(closing);
  for (const a of agents) expect(await a.closed).toEqual({ code: CloseCode.shuttingDown, reason: 'restarting' });
  await closing;
  expect(performance.now() - started).toBeLessThan(graceMs);
  for (const id of ['p1', 'p2']) expect((await h.worker(id))?.is_active, id).toBe(true);
  expect(m.logs.filter((l) => l.msg === 'workers flagged inactive')).toEqual([]);
  expect(m.logs.filter((l) => l.msg === 'planned restart: workers left active for the next master')).toMatchObject([{ count: 2 }]);
  expect(m.logs.at(-1)?.msg).toBe('closed');
});

test('a planned restart: the real agent is never inactive across it; a worker whose agent does not come back is flagged by the next master\'s sweep', async () => {
  const [tokenRa, tokenGone] = await Promise.all([h.register('ra'), h.register('gone')]);
  const first = await h.startMaster({ handoverGraceMs: 60_000 });
  const agent = realAgent(first.url, 'ra', tokenRa);
  await agent.start();
  // 'gone' is an agent that will not come back after the restart (its machine went down meanwhile).
  const gone = await RawAgent.admitted(first.url, { workerId: 'gone', token: tokenGone });
  await gone.heartbeat();
  await waitFor('both active', async () => (await h.worker('ra'))?.is_active === true && (await h.worker('gone'))?.is_active === true);

  const seen: (boolean | undefined)[] = [];
  let polling = true;
  const poll = (async () => {
    while (polling) {
      seen.push((await h.worker('ra'))?.is_active);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await first.master.close({ plannedRestart: true });
  await gone.closed;
  const second = await h.startMaster({}, { port: first.port });
  await waitFor('admitted by the next master', () => second.logs.some((l) => l.msg === 'admitted' && l.worker_id === 'ra'), { timeoutMs: 5_000 });
  // The next master's sweep takes over: 'gone' is flagged once its heartbeat is older than the timeout (1 s here).
  await waitFor('the silent worker flagged by the sweep', async () => (await h.worker('gone'))?.is_active === false, { timeoutMs: 5_000 });
  polling = false;
  await poll;
  expect(seen.length).toBeGreaterThan(20);
  expect(seen.filter((a) => a !== true)).toEqual([]);
  expect(second.logs.filter((l) => l.msg === 'workers flagged inactive')).toMatchObject([{ cause: 'sweep', count: 1 }]);
  expect((await h.worker('ra'))?.is_active).toBe(true);
  await agent.close();
});
