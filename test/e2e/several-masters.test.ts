import { createServer } from 'node:net';
import { afterAll, beforeAll, describe } from 'vitest';
import { FAKE_SPECS, TIMING, agentEvents, agentUrl, masterRecords, registerWorker, registerWorkers, startAgent, startMaster, type MasterProc } from './support/cluster.js';
import { DevDb } from './support/devdb.js';
import { liveChildren, type Proc } from './support/processes.js';
import { Summary, secs } from './support/report.js';
import { defineScenario, type ScenarioContext } from './support/scenario.js';
import { RegistryWatch } from './support/watch.js';

/**
 * Several masters on one dev database, with the built cluster-master and
 * cluster-agent as separate processes: the agent's list of masters (rounds,
 * the backoff per round), and what happens to workers when a master stops or
 * dies. Same conventions and timings as faults.test.ts; the table goes to
 * .cache/e2e/several-masters.txt.
 */

const summary = new Summary('several-masters');
let db: DevDb | undefined;
const uri = (): string => {
  if (db === undefined) throw new Error('the dev database did not start');
  return db.uri;
};
const scenario = (label: string, timeoutMs: number, body: (ctx: ScenarioContext) => Promise<void>): void =>
  defineScenario(summary, uri, label, timeoutMs, body);

/** An observation window: time itself is what is being tested. */
const hold = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const { heartbeatIntervalMs: INTERVAL, flushIntervalMs: FLUSH, reconnectCapMs: CAP } = TIMING;
/** The master's derived hand-over grace at these timings (options.ts): one interval + two flushes + 2 s. */
const GRACE = INTERVAL + 2 * FLUSH + 2_000;

interface Fleet {
  masters: MasterProc[];
  ids: string[];
  agents: Map<string, Proc>;
  watch: RegistryWatch;
}

/** Three masters and `count` agents, each given all three URLs; resolves when all are active. */
async function threeMasters(ctx: ScenarioContext, prefix: string, count: number): Promise<Fleet> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
  const tokens = await registerWorkers(ctx.target, ids);
  const masters = [await startMaster(ctx.procs, ctx.target, 'master A'), await startMaster(ctx.procs, ctx.target, 'master B'), await startMaster(ctx.procs, ctx.target, 'master C')];
  const watch = await RegistryWatch.open(ctx.target.uri, ctx.target.database, ids);
  ctx.cleanup(() => watch.close());
  const urls = masters.map((m) => agentUrl(m)).join(',');
  const agents = new Map<string, Proc>();
  for (const id of ids) agents.set(id, startAgent(ctx.procs, `agent ${id}`, { masterUrl: urls, workerId: id, token: tokens.get(id) ?? '', specs: FAKE_SPECS }));
  await watch.untilAll(ids, true, 15_000 + 1_000 * count);
  return { masters, ids, agents, watch };
}

/** The workers whose latest admission was by this master. */
function servedBy(fleet: Fleet, master: MasterProc): string[] {
  return fleet.ids.filter((id) => {
    const last = (m: MasterProc) => masterRecords(m.proc, 'admitted', id).at(-1)?.atMs ?? -1;
    return last(master) > Math.max(...fleet.masters.filter((m) => m !== master).map(last));
  });
}

/** The master serving the most agents (the agents chose at random). */
function busiest(fleet: Fleet): MasterProc {
  return [...fleet.masters].sort((a, b) => servedBy(fleet, b).length - servedBy(fleet, a).length)[0] as MasterProc;
}

/** For each worker, ms from `t0` to its agent's next admission (Infinity if none came). */
function movedAfter(fleet: Fleet, ids: readonly string[], t0: number): number[] {
  return ids.map((id) => (agentEvents(fleet.agents.get(id) as Proc, 'admitted').find((e) => e.atMs > t0)?.atMs ?? Infinity) - t0);
}

async function allMoved(fleet: Fleet, ids: readonly string[], t0: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (movedAfter(fleet, ids, t0).some((ms) => !Number.isFinite(ms)) && performance.now() < deadline) await hold(50);
}

beforeAll(async () => {
  db = await DevDb.start();
}, 180_000);

afterAll(async () => {
  const leaked = liveChildren();
  await Promise.all(leaked.map((p) => p.kill()));
  await db?.destroy();
  const table = await summary.write();
  console.log(`\n[e2e] several masters (also in .cache/e2e/several-masters.txt):\n${table}\n`);
  if (leaked.length > 0) throw new Error(`processes outlived their scenario: ${leaked.map((p) => p.name).join(', ')}`);
}, 60_000);

describe.sequential('several masters (real processes, dev database)', () => {
  scenario('M1 two of three masters down', 60_000, async (ctx) => {
    // Four agents: each starts at a random entry, so most begin on a closed port.
    const ids = ['list-1', 'list-2', 'list-3', 'list-4'];
    const tokens = await registerWorkers(ctx.target, ids);
    const master = await startMaster(ctx.procs, ctx.target, 'master');
    const down = [await closedPort(), await closedPort()].map((port) => `ws://127.0.0.1:${port}/agent`);
    const urls = [...down, agentUrl(master)].join(',');
    const t0 = performance.now();
    const agents = ids.map((id) =>
      startAgent(ctx.procs, `agent ${id}`, { masterUrl: urls, workerId: id, token: tokens.get(id) ?? '', specs: FAKE_SPECS, reconnectBaseMs: 2_000, reconnectCapMs: 4_000 }),
    );
    const admitted = await Promise.all(agents.map((a) => a.waitForRecord('admitted', (r) => r.event === 'admitted', { timeoutMs: 20_000 })));
    const failed = agents.map((a) => agentEvents(a, 'connect-failed').length);
    const waits = agents.flatMap((a) => agentEvents(a, 'retry').map((r) => Number(r.rec.delay_ms)));
    ctx.figure(
      'M1 two of three masters down',
      `4 agents admitted after max ${secs(Math.max(...admitted.map((a) => a.atMs)) - t0)}, failed tries before: ${failed.join(', ')}; retry delays: ${JSON.stringify(waits)} ms (backoff base 2 s)`,
      'each admitted within one round: <= 2 failed tries, no backoff delay',
      failed.every((f) => f <= 2) && waits.every((w) => w === 0),
    );
  });

  scenario('M2 all three masters down', 60_000, async (ctx) => {
    const id = 'list-2';
    const token = await registerWorker(ctx.target, id);
    const urls = [await closedPort(), await closedPort(), await closedPort()].map((port) => `ws://127.0.0.1:${port}/agent`);
    const capMs = 400;
    const agent = startAgent(ctx.procs, 'agent', { masterUrl: urls.join(','), workerId: id, token, specs: FAKE_SPECS, reconnectBaseMs: 100, reconnectCapMs: capMs });
    await agent.waitForRecord('first failure', (r) => r.event === 'connect-failed', { timeoutMs: 20_000 });
    // Past the first rounds, whose windows are below the cap.
    await hold(1_000);
    const from = agent.lines.length;
    const windowMs = 6_000;
    await hold(windowMs);
    const attempts = agentEvents(agent, 'connect-failed', from).length;
    const perMinute = (attempts * 60_000) / windowMs;
    // At the cap a round is three tries and one wait of cap/2 on average: 3 × 60 s / 0.2 s = 900 a minute.
    // The bound allows a mean wait of cap/3 (draws are random); a backoff per URL would triple the rate.
    const bound = (urls.length * 60_000) / (capMs / 3);
    ctx.figure(
      'M2 all three masters down',
      `${attempts} attempts in ${secs(windowMs)} = ${Math.round(perMinute)} a minute (cap ${capMs} ms, 3 URLs)`,
      `<= ${Math.round(bound)} a minute (3 tries per round, mean wait >= cap/3)`,
      perMinute <= bound && attempts > 0,
    );
  });

  scenario('M3 SIGTERM one of three masters', 90_000, async (ctx) => {
    const fleet = await threeMasters(ctx, 'term', 6);
    const master = busiest(fleet);
    const moving = servedBy(fleet, master);
    await hold(3 * INTERVAL);
    const t0 = master.proc.signal('SIGTERM');
    await allMoved(fleet, moving, t0, CAP + 2_000);
    const moved = movedAfter(fleet, moving, t0);
    const exit = await master.proc.exited;
    await hold(1_000); // past its hand-over flag
    const closed4503 = moving.filter((id) => agentEvents(fleet.agents.get(id) as Proc, 'disconnected').some((e) => e.atMs > t0 && e.rec.code === 4503)).length;
    const falseFlags = fleet.watch.transitionsTo(false, t0).length;
    const worst = Math.max(...moved);
    ctx.figure(
      'M3 SIGTERM one of three masters',
      `${moving.length} of ${fleet.ids.length} agents on it, ${closed4503} closed 4503, admitted elsewhere after max ${secs(worst)} (${moved.map((m) => Math.round(m)).join(', ')} ms); master exit ${exit.code} after ${secs(exit.atMs - t0)}; workers seen inactive at 50 ms polls until 1 s after its exit: ${falseFlags}`,
      `moved <= reconnect cap + 2 s (${secs(CAP + 2_000)}), all 4503, exit 0, 0 inactive`,
      moving.length > 0 && worst <= CAP + 2_000 && closed4503 === moving.length && exit.code === 0 && falseFlags === 0,
    );
  });

  scenario('M4 SIGKILL one of three masters', 90_000, async (ctx) => {
    const fleet = await threeMasters(ctx, 'kill', 6);
    const master = busiest(fleet);
    const moving = servedBy(fleet, master);
    await hold(3 * INTERVAL);
    const t0 = master.proc.signal('SIGKILL');
    await allMoved(fleet, moving, t0, CAP + 2_000);
    const moved = movedAfter(fleet, moving, t0);
    // Past the timeout and a sweep: the other masters' sweeps must leave the moved workers alone.
    await hold(TIMING.heartbeatTimeoutMs + 2_000);
    const falseFlags = fleet.watch.transitionsTo(false, t0).length;
    const worst = Math.max(...moved);
    ctx.figure(
      'M4 SIGKILL one of three masters',
      `${moving.length} of ${fleet.ids.length} agents on it, admitted elsewhere after max ${secs(worst)} (${moved.map((m) => Math.round(m)).join(', ')} ms); workers seen inactive at 50 ms polls for timeout + 2 s: ${falseFlags}`,
      `moved <= reconnect cap + 2 s (${secs(CAP + 2_000)}), 0 inactive`,
      moving.length > 0 && worst <= CAP + 2_000 && falseFlags === 0,
    );
  });

  scenario('M5 stop all three masters', 90_000, async (ctx) => {
    const fleet = await threeMasters(ctx, 'all', 6);
    await hold(3 * INTERVAL);
    const t0 = performance.now();
    for (const m of fleet.masters) m.proc.signal('SIGTERM');
    const exits = await Promise.all(fleet.masters.map((m) => m.proc.exited));
    const lastExit = Math.max(...exits.map((e) => e.atMs));
    await fleet.watch.untilAll(fleet.ids, false, 2_000 + Math.max(0, lastExit - performance.now()));
    const flagged = fleet.ids.map((id) => fleet.watch.transitionsTo(false, t0, id)[0]?.detectedMs ?? Infinity);
    const latest = Math.max(...flagged);
    const earliest = Math.min(...flagged);
    ctx.figure(
      'M5 stop all three masters',
      `all ${fleet.ids.length} inactive between ${secs(earliest - t0)} and ${secs(latest - t0)} after the SIGTERMs; last master exit after ${secs(lastExit - t0)} (codes ${exits.map((e) => e.code).join(',')}); hand-over grace ${secs(GRACE)}`,
      'every worker inactive <= last exit + 2 s, none before the grace',
      latest <= lastExit + 2_000 && earliest - t0 >= GRACE - FLUSH && exits.every((e) => e.code === 0),
    );
  });
});
