import { createServer } from 'node:net';
import { afterAll, beforeAll, describe } from 'vitest';
import { FAKE_SPECS, TIMING, agentEvents, agentUrl, masterCli, masterRecords, registerWorker, registerWorkers, startAgent, startMaster } from './support/cluster.js';
import { DevDb } from './support/devdb.js';
import { liveChildren, type Proc } from './support/processes.js';
import { Summary, secs } from './support/report.js';
import { defineScenario, type ScenarioContext } from './support/scenario.js';
import { GRACE, hold, servedBy, threeMasters } from './support/three-masters.js';

/**
 * Several masters on one dev database, with the built cluster-master and
 * cluster-agent as separate processes: the agent's list of masters (rounds,
 * the backoff per round), all masters stopped at once, and an unregister seen
 * by the master serving the worker. A fleet of 30 through a kill, a SIGTERM
 * and a stop is several-masters-fleet.test.ts. Same conventions and timings
 * as faults.test.ts; the table goes to .cache/e2e/several-masters.txt.
 */

const summary = new Summary('several-masters');
let db: DevDb | undefined;
const uri = (): string => {
  if (db === undefined) throw new Error('the dev database did not start');
  return db.uri;
};
const scenario = (label: string, timeoutMs: number, body: (ctx: ScenarioContext) => Promise<void>): void =>
  defineScenario(summary, uri, label, timeoutMs, body);

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const { heartbeatIntervalMs: INTERVAL, flushIntervalMs: FLUSH, refusedRetryMs: REFUSED } = TIMING;

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
    // Failed tries are debug lines; after the admission one warning lists them (`tried`).
    const failed = agents.map((a) => agentEvents(a, 'connect-failed').reduce((n, r) => n + (r.rec.tried as unknown[]).length, 0));
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
    // One line per round (`retry`, its failed tries in `tried`).
    const tries = (from: number) => agentEvents(agent, 'retry', from).reduce((n, r) => n + ((r.rec.tried as unknown[] | undefined)?.length ?? 0), 0);
    await agent.waitForRecord('first round', (r) => r.event === 'retry' && r.tried !== undefined, { timeoutMs: 20_000 });
    // Past the first rounds, whose windows are below the cap.
    await hold(1_000);
    const from = agent.lines.length;
    const windowMs = 6_000;
    await hold(windowMs);
    const attempts = tries(from);
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

  scenario('M6 unregister on one master of a worker served by another', 60_000, async (ctx) => {
    const fleet = await threeMasters(ctx, 'unreg', 3);
    const id = fleet.ids[0] as string;
    const agent = fleet.agents.get(id) as Proc;
    const serving = fleet.masters.find((m) => servedBy(fleet, m, [id]).length === 1);
    if (serving === undefined) throw new Error(`no master serves ${id}`);
    const from = agent.lines.length;
    const t0 = performance.now();
    // The admin command runs beside another master (it writes the database they share): no master is told.
    const unregistered = await masterCli(ctx.target, ['worker', 'unregister', id]);
    if (unregistered.code !== 0) throw new Error(`worker unregister failed: ${unregistered.stderr}`);
    // The command has written by the time it exits (its start, a node process, can take seconds on a busy machine).
    const t1 = performance.now();
    const closed = await agent.waitForRecord('disconnected 4404', (r) => r.event === 'disconnected' && r.code === 4404, { from, timeoutMs: 8_000 });
    // The agent then tries the other masters of its list, slowly. One whose view is older than the
    // unregister (it reads the admission version every view refresh, 5 s) may still admit it; its
    // first heartbeat write then matches no document and the session is closed 4404 too.
    let refusals = 0;
    await agent.waitForLine('two refusals', (l) => l.json?.event === 'refused' && ++refusals >= 2, { from, timeoutMs: 4 * REFUSED + 4_000 });
    const refused = agentEvents(agent, 'refused', from);
    // Read after the refusals: the master's own line of that close may reach us after the agent's.
    const closedBy = fleet.masters.filter((m) => masterRecords(m.proc, 'disconnected', id).some((r) => r.atMs > t0 && r.rec.code === 4404));
    const refusers = fleet.masters.filter((m) => m.proc.records().some((r) => r.atMs > t0 && r.rec.msg === 'refused' && r.rec.worker_id === id));
    const again = agentEvents(agent, 'admitted', from);
    const closes = agentEvents(agent, 'disconnected', from).filter((e) => e.rec.code === 4404);
    const lastAdmitted = Math.max(t1, ...again.map((e) => e.atMs)) - t1;
    const reappeared = fleet.watch.transitions.filter((t) => t.workerId === id && t.from === 'absent' && t.detectedMs > t1).length;
    const othersFlagged = fleet.ids.filter((x) => x !== id && fleet.watch.transitionsTo(false, t0, x).length > 0).length;
    ctx.figure(
      'M6 unregister, three masters',
      `command ran ${secs(t1 - t0)}; closed 4404 ${secs(closed.atMs - t1)} after it by ${closedBy.map((m) => m.proc.name).join(', ') || 'no master'} (serving: ${serving.proc.name}); then refused ${refused.length}x (${refused.map((r) => String(r.rec.status)).join(', ')}) by ${refusers.map((m) => m.proc.name).join(', ')}; admitted again ${again.length}x (last ${secs(lastAdmitted)} after, each closed 4404: ${closes.length === again.length + 1}); document back: ${reappeared}; other workers flagged: ${othersFlagged}`,
      'closed <= 5 s by the master serving it; admitted again only within a view refresh (5 s) + 1 s and closed 4404; the document never back; the others untouched',
      closed.atMs - t1 <= 5_000 &&
        closedBy.includes(serving) &&
        refusers.length >= 1 &&
        lastAdmitted <= 6_000 &&
        closes.length === again.length + 1 &&
        reappeared === 0 &&
        othersFlagged === 0,
    );
  });
});
