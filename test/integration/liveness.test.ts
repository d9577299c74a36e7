import { CloseCode } from '@cluster/protocol';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { openHarness, waitFor, type Harness } from './helpers/harness.js';
import { RawAgent } from './helpers/raw-agent.js';

/**
 * When a worker becomes inactive, with 200 ms beats and a 1 s timeout. Times
 * are measured against the database, polled every 10–20 ms.
 */
const TIMEOUT = 1_000;
let h: Harness;
beforeEach(async () => {
  h = await openHarness();
});
afterEach(async () => {
  await h.close();
});

async function isActive(workerId: string): Promise<boolean | undefined> {
  return (await h.worker(workerId))?.is_active;
}

/**
 * The agent's close, or a failure naming what was expected, after `ms`: a
 * session the master fails to close would otherwise hang until the test's
 * own timeout, which says nothing.
 */
async function closedWithin(agent: RawAgent, ms: number, expected: string): Promise<{ code: number }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the session was not closed within ${ms} ms: expected ${expected}`)), ms);
  });
  try {
    return await Promise.race([agent.closed, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls until the worker is inactive; returns when (performance.now()). */
async function inactiveAt(workerId: string, timeoutMs: number): Promise<number> {
  await waitFor(`${workerId} inactive`, async () => (await isActive(workerId)) === false, { timeoutMs, intervalMs: 10 });
  return performance.now();
}

describe('clean close', () => {
  test('inactive within 1 s, and a heartbeat still pending cannot revive it', async () => {
    const token = await h.register('c1');
    // A long flush interval keeps the last heartbeat pending when the goodbye arrives.
    const m = await h.startMaster({ flushIntervalMs: 400 });
    const agent = await RawAgent.admitted(m.url, { workerId: 'c1', token });
    await waitFor('active', async () => (await isActive('c1')) === true);
    await agent.heartbeat();
    const closedAt = performance.now();
    await agent.close(1000, 'agent shutting down');
    const at = await inactiveAt('c1', 1_000);
    expect(at - closedAt).toBeLessThan(1_000);
    // Several flushes later it is still inactive.
    const flushes = m.commands.mark();
    await waitFor('three more flush cycles', () => m.commands.count(flushes, 'update') >= 3 || performance.now() - flushes > 1_500, {
      timeoutMs: 3_000,
    });
    expect(await isActive('c1')).toBe(false);
    expect(m.logs.find((l) => l.msg === 'workers flagged inactive')).toMatchObject({ cause: 'clean_close', count: 1, worker_ids: ['c1'] });
  });

  test('1001 (going away) counts as a clean close too', async () => {
    const token = await h.register('c2');
    const m = await h.startMaster();
    const agent = await RawAgent.admitted(m.url, { workerId: 'c2', token });
    await waitFor('active', async () => (await isActive('c2')) === true);
    const closedAt = performance.now();
    await agent.close(1001, 'going away');
    expect((await inactiveAt('c2', 1_000)) - closedAt).toBeLessThan(1_000);
  });
});

describe('lost connection (SIGKILL, cable cut)', () => {
  test('inactive once the timeout has passed since the last heartbeat, not before, within 2 s after', async () => {
    const token = await h.register('k1');
    const m = await h.startMaster();
    const agent = await RawAgent.admitted(m.url, { workerId: 'k1', token });
    await waitFor('active', async () => (await isActive('k1')) === true);
    const lastBeat = performance.now();
    await agent.heartbeat();
    agent.destroy(); // no close frame: the master sees 1006
    const at = await inactiveAt('k1', TIMEOUT + 3_000);
    expect(at - lastBeat).toBeGreaterThanOrEqual(TIMEOUT);
    expect(at - lastBeat).toBeLessThan(TIMEOUT + 2_000);
    expect(m.logs.find((l) => l.msg === 'workers flagged inactive')).toMatchObject({ cause: 'timeout', worker_ids: ['k1'] });
    expect(m.logs.find((l) => l.msg === 'disconnected')).toMatchObject({ worker_id: 'k1', code: 1006 });
  });

  test('flagged right after the timeout, not one heartbeat interval later (1.5 s interval, 2 s timeout, bound timeout + 1 s)', async () => {
    const token = await h.register('k3');
    const interval = 1_500;
    const timeout = 2_000;
    const m = await h.startMaster({ heartbeatIntervalMs: interval, heartbeatTimeoutMs: timeout });
    const agent = await RawAgent.admitted(m.url, { workerId: 'k3', token });
    await waitFor('active', async () => (await isActive('k3')) === true);
    const lastBeat = performance.now();
    await agent.heartbeat();
    agent.destroy();
    const at = await inactiveAt('k3', timeout + 4_000);
    expect(at - lastBeat).toBeGreaterThanOrEqual(timeout);
    // One interval late would be 3.5 s, twice the timeout 4 s.
    expect(at - lastBeat).toBeLessThan(timeout + 1_000);
  });

  test('an agent that comes back before the timeout is never flagged', async () => {
    const token = await h.register('k2');
    const m = await h.startMaster();
    const first = await RawAgent.admitted(m.url, { workerId: 'k2', token });
    await waitFor('active', async () => (await isActive('k2')) === true);
    first.destroy();
    const second = await RawAgent.admitted(m.url, { workerId: 'k2', token });
    second.startBeating(200);
    const until = performance.now() + TIMEOUT + 300;
    while (performance.now() < until) {
      expect(await isActive('k2')).toBe(true);
      await new Promise((r) => setTimeout(r, 20));
    }
    await second.close();
  });
});

describe('hung agent (SIGSTOP): sends nothing, answers no ping', () => {
  test('its socket is pinged, then terminated; the worker is flagged after the timeout', async () => {
    const token = await h.register('s1');
    const m = await h.startMaster();
    const agent = await RawAgent.admitted(m.url, { workerId: 's1', token, autoPong: false });
    await waitFor('active', async () => (await isActive('s1')) === true);
    let pinged = false;
    agent.ws.on('ping', () => (pinged = true));
    const lastBeat = performance.now();
    await agent.heartbeat();
    agent.freeze();
    const closed = await agent.closed;
    expect(pinged).toBe(true);
    expect(closed.code).toBe(1006);
    const at = await inactiveAt('s1', TIMEOUT + 3_000);
    expect(at - lastBeat).toBeGreaterThanOrEqual(TIMEOUT);
    expect(at - lastBeat).toBeLessThan(TIMEOUT + 2_000);
  });

  test('a quiet agent that answers pings keeps its socket, but is still flagged: only heartbeats count', async () => {
    const token = await h.register('s2');
    const m = await h.startMaster();
    const agent = await RawAgent.admitted(m.url, { workerId: 's2', token });
    await waitFor('active', async () => (await isActive('s2')) === true);
    const lastBeat = performance.now();
    await agent.heartbeat();
    agent.freeze();
    const closed = await agent.closed; // terminated at the timeout, not at the first ping
    expect(closed.code).toBe(1006);
    expect(performance.now() - lastBeat).toBeGreaterThanOrEqual(TIMEOUT);
    await inactiveAt('s2', 2_000);
  });
});

describe('replacement', () => {
  test('a newer connection closes the older one 4409; the worker is never inactive meanwhile', async () => {
    const token = await h.register('r1');
    const m = await h.startMaster();
    const old = await RawAgent.admitted(m.url, { workerId: 'r1', token });
    old.startBeating(200);
    await waitFor('active', async () => (await isActive('r1')) === true);
    const seen: boolean[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        seen.push((await isActive('r1')) === true);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const fresh = await RawAgent.admitted(m.url, { workerId: 'r1', token });
    fresh.startBeating(200);
    expect(await old.closed).toEqual({ code: CloseCode.replaced, reason: 'replaced by a newer connection' });
    await new Promise((r) => setTimeout(r, TIMEOUT + 500)); // a whole timeout: watch that nothing flips
    watching = false;
    await watcher;
    expect(seen.length).toBeGreaterThan(20);
    expect(seen.every(Boolean)).toBe(true);
    expect(m.logs.filter((l) => l.msg === 'workers flagged inactive')).toEqual([]);
    await fresh.close();
  });
});

describe('unregistered or re-keyed while connected', () => {
  test('unregistering a beating worker closes it 4404 quickly (the heartbeat write matches nothing)', async () => {
    const token = await h.register('u1');
    const m = await h.startMaster({ viewRefreshMs: 5_000 });
    const agent = await RawAgent.admitted(m.url, { workerId: 'u1', token });
    agent.startBeating(200);
    await waitFor('active', async () => (await isActive('u1')) === true);
    const at = performance.now();
    await h.registry.unregisterWorker('u1');
    await h.credentials.remove('u1');
    expect((await agent.closed).code).toBe(CloseCode.unregistered);
    expect(performance.now() - at).toBeLessThan(2_000);
    expect(await h.worker('u1')).toBeNull();
  });

  test('unregistering a quiet worker closes it 4404 within the view refresh (at most 5 s)', async () => {
    const token = await h.register('u2');
    const m = await h.startMaster({ heartbeatIntervalMs: 5_000, heartbeatTimeoutMs: 15_000, viewRefreshMs: 500 });
    const agent = await RawAgent.admitted(m.url, { workerId: 'u2', token });
    await waitFor('active', async () => (await isActive('u2')) === true);
    const at = performance.now();
    await h.registry.unregisterWorker('u2');
    expect((await agent.closed).code).toBe(CloseCode.unregistered);
    expect(performance.now() - at).toBeLessThan(5_000);
    expect(m.logs.find((l) => l.msg === 'closing session')).toMatchObject({ worker_id: 'u2', code: CloseCode.unregistered });
  });

  test('a rotated token closes the session 4401; the new token is admitted at once', async () => {
    const token = await h.register('t1');
    const m = await h.startMaster({ viewRefreshMs: 300 });
    const agent = await RawAgent.admitted(m.url, { workerId: 't1', token });
    agent.startBeating(200);
    const rotated = await h.credentials.rotate('t1');
    expect((await agent.closed).code).toBe(CloseCode.unauthorized);
    expect((await RawAgent.refused(m.url, { workerId: 't1', token })).status).toBe(401);
    const again = await RawAgent.admitted(m.url, { workerId: 't1', token: rotated });
    await again.close();
  });

  test('a rotated token flags the worker inactive at once (not after the heartbeat timeout)', async () => {
    const token = await h.register('t2');
    const m = await h.startMaster({ viewRefreshMs: 300, heartbeatTimeoutMs: 15_000, heartbeatIntervalMs: 5_000, flushIntervalMs: 200 });
    const agent = await RawAgent.admitted(m.url, { workerId: 't2', token });
    await waitFor('active', async () => (await isActive('t2')) === true);
    await h.credentials.rotate('t2');
    expect((await agent.closed).code).toBe(CloseCode.unauthorized);
    const closedAt = performance.now();
    expect((await inactiveAt('t2', 3_000)) - closedAt).toBeLessThan(2_000);
    expect(m.logs.find((l) => l.msg === 'workers flagged inactive')).toMatchObject({ cause: 'master_close', worker_ids: ['t2'] });
  });

  test('worker update --ip: the session admitted from the old address is closed 4403 and refused there; the token stays', async () => {
    const token = await h.register('m1', '127.0.0.1');
    const m = await h.startMaster({ viewRefreshMs: 300, checkSourceAddress: true });
    const agent = await RawAgent.admitted(m.url, { workerId: 'm1', token });
    agent.startBeating(200);
    await h.registry.updateWorkerIp('m1', '127.0.0.2');
    // The view is re-read every 300 ms: 3 s is ten refreshes.
    expect((await closedWithin(agent, 3_000, 'a close 4403 after worker_ip changed to 127.0.0.2')).code).toBe(CloseCode.forbidden);
    expect((await RawAgent.refused(m.url, { workerId: 'm1', token })).status).toBe(403);
    await h.registry.updateWorkerIp('m1', '127.0.0.1');
    const again = await RawAgent.admitted(m.url, { workerId: 'm1', token });
    await again.close();
  });

  test('a protocol violation flags the worker inactive at once', async () => {
    const token = await h.register('p1');
    const m = await h.startMaster({ heartbeatTimeoutMs: 15_000, heartbeatIntervalMs: 5_000, flushIntervalMs: 200 });
    const agent = await RawAgent.admitted(m.url, { workerId: 'p1', token });
    await waitFor('active', async () => (await isActive('p1')) === true);
    agent.sendRaw('not json');
    expect((await agent.closed).code).not.toBe(CloseCode.replaced);
    const closedAt = performance.now();
    expect((await inactiveAt('p1', 3_000)) - closedAt).toBeLessThan(2_000);
    expect(m.logs.find((l) => l.msg === 'workers flagged inactive')).toMatchObject({ cause: 'master_close', worker_ids: ['p1'] });
  });
});
