import { CloseCode } from '@cluster/protocol';
import { Long } from 'mongodb';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { realAgent } from './helpers/agents.js';
import { openHarness, waitFor, type Harness } from './helpers/harness.js';
import { RawAgent } from './helpers/raw-agent.js';

/** The database-side stale sweep, and master restarts. 1 s timeout. */
const TIMEOUT = 1_000;
let h: Harness;
beforeEach(async () => {
  h = await openHarness();
});
afterEach(async () => {
  await h.close();
});

/** A worker some other (dead) master left active with an old heartbeat. */
async function seedStale(workerId: string, ageSeconds: number): Promise<void> {
  await h.register(workerId);
  await h.db
    .collection('WORKER_REGISTRY')
    .updateOne(
      { worker_id: workerId },
      { $set: { is_active: true, last_heartbeat: Long.fromNumber(Math.floor(Date.now() / 1000) - ageSeconds) } },
    );
}

async function activeIds(): Promise<string[]> {
  const docs = await h.db.collection('WORKER_REGISTRY').find({ is_active: true }).toArray();
  return docs.map((d) => String(d.worker_id)).sort();
}

test('at start the sweep flags workers nobody wrote for longer than the timeout; younger ones wait one timeout', async () => {
  // 'orphan' was left active an hour ago by a dead master: no master served it
  // for longer than the timeout, so the new master flags it before admitting
  // anyone. 'recent' beat just now (a quick restart): only the regular sweep,
  // one timeout after start, may flag it.
  await seedStale('orphan', 3_600);
  await seedStale('recent', 0);
  const t0 = performance.now();
  const m = await h.startMaster();
  await waitFor('orphan inactive', async () => (await h.worker('orphan'))?.is_active === false, {
    timeoutMs: TIMEOUT,
    intervalMs: 10,
  });
  expect(m.logs.find((l) => l.msg === 'workers flagged inactive')).toMatchObject({ cause: 'sweep', at_start: true, count: 1 });
  await waitFor('recent inactive', async () => (await h.worker('recent'))?.is_active === false, {
    timeoutMs: TIMEOUT + 4_000,
    intervalMs: 10,
  });
  const at = performance.now() - t0;
  expect(at).toBeGreaterThanOrEqual(TIMEOUT);
  const sweeps = (await m.master.metrics.workersFlaggedInactive.get()).values;
  expect(sweeps).toContainEqual({ labels: { cause: 'sweep' }, value: 2 });
});

test('the sweep keeps a second of margin: a heartbeat one whole second past the timeout is not flagged', async () => {
  // Timeout 2 s. The test keeps rewriting last_heartbeat = (now + 400 ms, in whole
  // seconds) - 3 s: a naive cutoff (now - timeout) flags it whenever a sweep falls in
  // the first 600 ms of a second (any three sweeps 667 ms apart include one), ours (one
  // more second for skew) must not. The 400 ms of look-ahead covers a stalled write
  // near a second boundary; with 100 ms, such a stall failed the test now and then.
  await h.register('edge');
  const m = await h.startMaster({ heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 2_000 });
  const workers = h.db.collection('WORKER_REGISTRY');
  const hold = async (): Promise<void> => {
    const L = Math.floor((Date.now() + 400) / 1000) - 3;
    await workers.updateOne({ worker_id: 'edge' }, { $set: { is_active: true, last_heartbeat: Long.fromNumber(L) } });
  };
  await hold();
  const sweeps = m.commands.mark();
  await waitFor(
    'five sweeps',
    async () => {
      await hold();
      return m.commands.count(sweeps, 'update', 'sweep') >= 5;
    },
    { timeoutMs: 8_000, intervalMs: 20 },
  );
  expect((await m.master.metrics.workersFlaggedInactive.get()).values).toEqual([]);
  // One second older is flagged by the next sweep.
  await workers.updateOne(
    { worker_id: 'edge' },
    { $set: { last_heartbeat: Long.fromNumber(Math.floor(Date.now() / 1000) - 4) } },
  );
  await waitFor('edge flagged', async () => (await h.worker('edge'))?.is_active === false, { timeoutMs: 2_000 });
});

test('another master that is behind (alive, its last write older than the timeout) keeps its workers from this master\'s sweep, beside a current one; once it stops publishing they are flagged', async () => {
  // 'behind-1' is served by a master whose heartbeat writes wait on a slow
  // database: its last_heartbeat is 3 s old (past the 1 s timeout), and that
  // master's last write stood for 4 s ago. It publishes that on the write
  // horizon as a live master does after every write; the test plays it, and
  // a third master, current (its writes stand for now), beside it: the sweep
  // must judge by the one behind.
  await seedStale('behind-1', 3);
  const horizon = h.db.collection<{ _id: string; written_as_of: Date; published_at: Date }>('MASTER_WRITE_HORIZON');
  const writtenAsOf = new Date(Date.now() - 4_000);
  let behindPublishedAt = 0;
  const publishBehind = () => {
    behindPublishedAt = performance.now();
    return horizon.updateOne({ _id: 'behind-master' }, { $set: { written_as_of: writtenAsOf, published_at: new Date() } }, { upsert: true });
  };
  const publishCurrent = () =>
    horizon.updateOne({ _id: 'current-master' }, { $set: { written_as_of: new Date(), published_at: new Date() } }, { upsert: true });
  const publish = async () => {
    await publishBehind();
    await publishCurrent();
  };
  await publish();
  const m = await h.startMaster();
  // A worker this master serves: only a master that serves someone publishes its own entry.
  const served = realAgent(m.url, 'served-1', await h.register('served-1'));
  await served.start();
  await waitFor('served-1 active', async () => (await h.worker('served-1'))?.is_active === true);
  const sweeps = m.commands.mark();
  const publishUntil = performance.now() + 3 * TIMEOUT + 500;
  while (performance.now() < publishUntil) {
    await publish();
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(m.commands.count(sweeps, 'update', 'sweep')).toBeGreaterThanOrEqual(5);
  expect((await h.worker('behind-1'))?.is_active).toBe(true);
  // This master's own entry is there too.
  const { instance_id: instanceId } = (await (await fetch(`${m.http}/healthz`)).json()) as { instance_id: string };
  expect(await horizon.countDocuments({ _id: instanceId })).toBe(1);

  // That master dies (publishes no more): one timeout later it holds nobody back (the current one goes on).
  const diedAt = behindPublishedAt;
  await waitFor(
    'behind-1 flagged',
    async () => {
      await publishCurrent();
      return (await h.worker('behind-1'))?.is_active === false;
    },
    { timeoutMs: TIMEOUT + 2_000, intervalMs: 20 },
  );
  expect(performance.now() - diedAt).toBeGreaterThanOrEqual(TIMEOUT - 200);
  expect(m.logs.filter((l) => l.msg === 'workers flagged inactive')).toEqual([expect.objectContaining({ cause: 'sweep', count: 1 })]);

  // A clean stop withdraws this master's entry; the dead one's, published within the day, stays.
  await served.close();
  await m.close();
  expect(await horizon.countDocuments({ _id: instanceId })).toBe(0);
  expect(await horizon.countDocuments({ _id: 'behind-master' })).toBe(1);
});

test('a replacement master started during the hand-over flags nobody that came back; a worker that did not is flagged after the timeout', async () => {
  const ids = ['a1', 'a2', 'a3', 'a4'];
  const tokens = await Promise.all(ids.map((id) => h.register(id)));
  const deadToken = await h.register('dead');
  const first = await h.startMaster();
  const agents = ids.map((id, i) => realAgent(first.url, id, tokens[i] ?? ''));
  await Promise.all(agents.map((a) => a.start()));
  const dead = await RawAgent.admitted(first.url, { workerId: 'dead', token: deadToken });
  dead.startBeating(200);
  await waitFor('all active', async () => (await activeIds()).length === 5);

  // Watch the registry through the restart.
  const flips: string[] = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const active = await activeIds();
      for (const id of ids) if (!active.includes(id)) flips.push(id);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  const restartAt = performance.now();
  // The replacement starts while the first master hands its workers over (its port is free at once):
  // the agents move to it, and the first master's hand-over flag must leave them alone.
  const closing = first.close();
  expect((await dead.closed).code).toBe(CloseCode.shuttingDown); // and it never comes back
  await waitFor('the first master hands over', () => first.logs.some((l) => l.msg === 'handing workers over to other masters'));
  const second = await h.startMaster({}, { waitReady: true, port: first.port });
  expect(performance.now() - restartAt).toBeLessThan(TIMEOUT);

  // The dead worker is swept after the new master's grace; the others never flip.
  const deadAt = await waitFor(
    'dead worker swept',
    async () => ((await h.worker('dead'))?.is_active === false ? performance.now() : undefined),
    { timeoutMs: TIMEOUT + 4_000, intervalMs: 10 },
  );
  expect(deadAt - restartAt).toBeGreaterThanOrEqual(TIMEOUT);
  await new Promise((r) => setTimeout(r, 300));
  watching = false;
  await watcher;
  await closing;
  expect(flips).toEqual([]);
  // The dead worker is flagged once, by whichever comes first: the first master's hand-over
  // flag (sent for all five it served; conditional, it changes only the dead one) or a stale
  // sweep. Both masters sweep: the first one's writer keeps flushing through its grace (to
  // write that flag), and each flush may end in a sweep of the whole collection. Which sweep
  // wins is a race; a sweep that finds the dead worker already flagged changes nothing and logs
  // nothing, so at most one sweep line is written in all. The hand-over's line and metric count
  // what its write changed (the four that moved stayed active), with the five it sent as `queued`.
  const flagLines = (m: typeof first): Record<string, unknown>[] => m.logs.filter((l) => l.msg === 'workers flagged inactive');
  const notSweeps = (m: typeof first): Record<string, unknown>[] => flagLines(m).filter((l) => l.cause !== 'sweep');
  expect(notSweeps(first)).toEqual([expect.objectContaining({ cause: 'handover', queued: 5 })]);
  const handedOver = Number(notSweeps(first)[0]?.count);
  expect([...(notSweeps(first)[0]?.worker_ids as string[])].sort()).toEqual([...ids, 'dead']);
  expect(notSweeps(second)).toEqual([]);
  const sweeps = [...flagLines(first), ...flagLines(second)].filter((l) => l.cause === 'sweep');
  expect(sweeps.length).toBeLessThanOrEqual(1);
  for (const l of sweeps) expect(l).toMatchObject({ count: 1 });
  expect(handedOver + sweeps.length).toBe(1);
  const handoverMetric = (await first.master.metrics.workersFlaggedInactive.get()).values.find((v) => v.labels.cause === 'handover');
  expect(handoverMetric?.value ?? 0).toBe(handedOver);
  await Promise.all(agents.map((a) => a.close()));
});
