import { afterAll, beforeAll, describe } from 'vitest';
import { TIMING, agentEvents, masterRecords, type MasterProc } from './support/cluster.js';
import { DevDb } from './support/devdb.js';
import { liveChildren, type Proc } from './support/processes.js';
import { Summary, secs } from './support/report.js';
import { defineScenario, type ScenarioContext } from './support/scenario.js';
import { GRACE, SWEEP_INTERVAL, allMoved, busiest, hold, movedAfter, servedBy, threeMasters, type ThreeMasters } from './support/three-masters.js';

/**
 * A fleet of 30 real agent processes, each given the URLs of three masters on
 * one dev database, through the life of the masters: one is killed (SIGKILL),
 * another stopped (SIGTERM, 4503), then the last one stopped. Three more
 * agents know only the killed master: the survivors' stale sweep must flag
 * each of them once. The registry is polled every 50 ms throughout. Same
 * timings as faults.test.ts; the table goes to .cache/e2e/several-masters-fleet.txt.
 */

const summary = new Summary('several-masters-fleet');
let db: DevDb | undefined;
const uri = (): string => {
  if (db === undefined) throw new Error('the dev database did not start');
  return db.uri;
};
const scenario = (label: string, timeoutMs: number, body: (ctx: ScenarioContext) => Promise<void>): void =>
  defineScenario(summary, uri, label, timeoutMs, body);

const { heartbeatIntervalMs: INTERVAL, heartbeatTimeoutMs: TIMEOUT, flushIntervalMs: FLUSH, reconnectCapMs: CAP } = TIMING;
const AGENTS = 30;
const STRANDED = ['stranded-1', 'stranded-2', 'stranded-3'];
/**
 * Kill → a stranded worker flagged: its last heartbeat write (at most a flush before the kill) is
 * older than the timeout plus the sweep's margin (the whole seconds of last_heartbeat and one
 * second for clock skew between masters: stale-sweep.ts, at most 2 s in all) at the next sweep.
 */
const STRANDED_BOUND = FLUSH + TIMEOUT + 2_000 + SWEEP_INTERVAL;

/** Sum of the counts of a master's 'workers flagged inactive' lines of this cause after `t0`. */
function flaggedCount(master: MasterProc, cause: string, t0: number): number {
  return masterRecords(master.proc, 'workers flagged inactive')
    .filter((r) => r.atMs > t0 && r.rec.cause === cause)
    .reduce((n, r) => n + Number(r.rec.count), 0);
}

function falseFlags(fleet: ThreeMasters, t0: number): string[] {
  return fleet.ids.filter((id) => fleet.watch.transitionsTo(false, t0, id).length > 0);
}

async function killOne(ctx: ScenarioContext, fleet: ThreeMasters, victim: MasterProc): Promise<void> {
  const moving = servedBy(fleet, victim);
  const t0 = victim.proc.signal('SIGKILL');
  await allMoved(fleet, moving, t0, CAP + 2_000);
  const moved = movedAfter(fleet, moving, t0);
  // Until every stranded worker is flagged (or its bound passed), then one more sweep: none flagged twice, no other flagged.
  await fleet.watch.untilAll(STRANDED, false, STRANDED_BOUND + 1_000).catch(() => undefined);
  await hold(2 * SWEEP_INTERVAL + FLUSH);
  const stranded = STRANDED.map((id) => fleet.watch.transitionsTo(false, t0, id));
  const strandedAt = stranded.map((t) => (t[0]?.detectedMs ?? Infinity) - t0);
  const flipsBack = STRANDED.filter((id) => fleet.watch.transitionsTo(true, t0, id).length > 0).length;
  const survivors = fleet.masters.filter((m) => m !== victim);
  const sweptCount = survivors.reduce((n, m) => n + flaggedCount(m, 'sweep', t0), 0);
  const otherFlags = survivors.reduce((n, m) => n + flaggedCount(m, 'timeout', t0), 0);
  const wrong = falseFlags(fleet, t0);
  ctx.figure(
    'F1 SIGKILL one of three masters',
    `${moving.length} of ${AGENTS} agents on it, admitted elsewhere after max ${secs(Math.max(...moved))} (p50 ${secs([...moved].sort((a, b) => a - b)[Math.floor(moved.length / 2)] ?? NaN)}); workers of those 30 seen inactive at 50 ms polls: ${wrong.length}`,
    `moved <= reconnect cap + 2 s (${secs(CAP + 2_000)}), 0 inactive`,
    moving.length > 0 && Math.max(...moved) <= CAP + 2_000 && wrong.length === 0,
  );
  ctx.figure(
    'F1 stale sweep, its 3 stranded agents (its URL only)',
    `flagged after ${strandedAt.map((ms) => secs(ms)).join(', ')}; transitions to inactive each: ${stranded.map((t) => t.length).join(', ')}, back to active: ${flipsBack}; survivors' sweeps flagged ${sweptCount} (by ${survivors.map((m) => `${m.proc.name} ${flaggedCount(m, 'sweep', t0)}`).join(', ')}), timeouts ${otherFlags}`,
    `each once, <= flush + timeout + 2 s + sweep interval (${secs(STRANDED_BOUND)}); sweeps flagged exactly 3 in all`,
    strandedAt.every((ms) => ms <= STRANDED_BOUND) && stranded.every((t) => t.length === 1) && flipsBack === 0 && sweptCount === STRANDED.length && otherFlags === 0,
  );
}

async function terminateOne(ctx: ScenarioContext, fleet: ThreeMasters, master: MasterProc): Promise<void> {
  const moving = servedBy(fleet, master);
  await hold(3 * INTERVAL);
  const t0 = master.proc.signal('SIGTERM');
  await allMoved(fleet, moving, t0, CAP + 2_000);
  const moved = movedAfter(fleet, moving, t0);
  const exit = await master.proc.exited;
  await hold(1_000); // past its hand-over flag
  const closed4503 = moving.filter((id) => agentEvents(fleet.agents.get(id) as Proc, 'disconnected').some((e) => e.atMs > t0 && e.rec.code === 4503)).length;
  const wrong = falseFlags(fleet, t0);
  ctx.figure(
    'F2 then SIGTERM a second master',
    `${moving.length} of ${AGENTS} agents on it, ${closed4503} closed 4503, admitted by the last master after max ${secs(Math.max(...moved))} (p50 ${secs([...moved].sort((a, b) => a - b)[Math.floor(moved.length / 2)] ?? NaN)}); exit ${exit.code} after ${secs(exit.atMs - t0)}; workers seen inactive at 50 ms polls until 1 s after its exit: ${wrong.length}`,
    `moved <= reconnect cap + 2 s (${secs(CAP + 2_000)}), all 4503, exit 0, 0 inactive`,
    moving.length > 0 && Math.max(...moved) <= CAP + 2_000 && closed4503 === moving.length && exit.code === 0 && wrong.length === 0,
  );
}

async function stopLast(ctx: ScenarioContext, fleet: ThreeMasters, master: MasterProc): Promise<void> {
  await hold(3 * INTERVAL);
  const t0 = master.proc.signal('SIGTERM');
  const exit = await master.proc.exited;
  await fleet.watch.untilAll(fleet.ids, false, 2_000 + Math.max(0, exit.atMs - performance.now())).catch(() => undefined);
  const flagged = fleet.ids.map((id) => fleet.watch.transitionsTo(false, t0, id)[0]?.detectedMs ?? Infinity);
  const latest = Math.max(...flagged);
  const earliest = Math.min(...flagged);
  ctx.figure(
    'F3 then stop the last master',
    `all ${AGENTS} inactive between ${secs(earliest - t0)} and ${secs(latest - t0)} after its SIGTERM; exit ${exit.code} after ${secs(exit.atMs - t0)}; hand-over grace ${secs(GRACE)}`,
    'every worker inactive <= its exit + 2 s, none before the grace',
    latest <= exit.atMs + 2_000 && earliest - t0 >= GRACE - FLUSH && exit.code === 0,
  );
}

beforeAll(async () => {
  db = await DevDb.start();
}, 180_000);

afterAll(async () => {
  const leaked = liveChildren();
  await Promise.all(leaked.map((p) => p.kill()));
  await db?.destroy();
  const table = await summary.write();
  console.log(`\n[e2e] several masters, a fleet of 30 (also in .cache/e2e/several-masters-fleet.txt):\n${table}\n`);
  if (leaked.length > 0) throw new Error(`processes outlived their scenario: ${leaked.map((p) => p.name).join(', ')}`);
}, 60_000);

describe.sequential('three masters, 30 agents (real processes, dev database)', () => {
  scenario('F1-F3 kill one master, stop another, then the last', 150_000, async (ctx) => {
    // The stranded agents know only master B; B is killed.
    const fleet = await threeMasters(ctx, 'fleet', AGENTS, { ids: STRANDED, master: 1 });
    const [a, b, c] = fleet.masters as [MasterProc, MasterProc, MasterProc];
    await hold(3 * INTERVAL);
    await killOne(ctx, fleet, b);
    for (const id of STRANDED) await fleet.agents.get(id)?.kill();
    const second = busiest(fleet, [a, c]);
    await terminateOne(ctx, fleet, second);
    await stopLast(ctx, fleet, second === a ? c : a);
  });
});
