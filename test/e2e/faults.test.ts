import { afterAll, beforeAll, describe, expect } from 'vitest';
import {
  AGENT_MAIN,
  FAKE_SPECS,
  TIMING,
  agentEvents,
  agentUrl,
  masterCli,
  masterRecords,
  registerWorker,
  registerWorkers,
  startAgent,
  startMaster,
  type MasterOptions,
  type MasterProc,
  type Specs,
} from './support/cluster.js';
import { DevDb } from './support/devdb.js';
import { createNetns } from './support/netns.js';
import { liveChildren, runToEnd, type Proc } from './support/processes.js';
import { Summary, secs } from './support/report.js';
import { defineScenario, type ScenarioContext } from './support/scenario.js';
import { RegistryWatch, type Transition, type WorkerDoc } from './support/watch.js';

/**
 * Proof under faults: the built cluster-master and cluster-agent
 * as separate processes against a dev database of this file's own, with
 * short timings (200 ms beats, 1.5 s timeout, 200 ms flushes), faults
 * injected with signals, a veth pair and a database stop, and the registry
 * watched by polling every 50 ms. Scenarios run one after the other in this
 * one file, so their timings do not disturb each other and the summary table
 * at the end holds every figure. Bounds are the product's promises; a figure
 * out of bounds is a product bug to fix, not a bound to widen.
 */

const { heartbeatIntervalMs: INTERVAL, heartbeatTimeoutMs: TIMEOUT, reconnectCapMs: CAP, refusedRetryMs: REFUSED } = TIMING;

/** The master's derived hand-over grace at these timings (options.ts). */
const HANDOVER_GRACE = INTERVAL + 2 * TIMING.flushIntervalMs + 2_000;

const summary = new Summary();
let db: DevDb | undefined;
const uri = (): string => {
  if (db === undefined) throw new Error('the dev database did not start');
  return db.uri;
};
const scenario = (label: string, timeoutMs: number, body: (ctx: ScenarioContext) => Promise<void>): void =>
  defineScenario(summary, uri, label, timeoutMs, body);

/**
 * A silent worker is flagged once its last message is older than the timeout.
 * That message left the agent at most one beat before the fault, so "not
 * before the timeout" means not before timeout - 1 beat after the fault.
 * The change is placed between two polls: it fails "early" only when a poll
 * answered before that bound already saw it inactive, and "late" only when no
 * poll answered by timeout + 2 s saw it, so 50 ms polling never decides alone.
 */
const NOT_EARLY_NOR_LATE = `not before timeout - 1 beat (${secs(TIMEOUT - INTERVAL)}), <= timeout + 2 s (${secs(TIMEOUT + 2_000)})`;
function onTime(flagged: Transition | undefined, faultAtMs: number): boolean {
  if (flagged === undefined) return false;
  const detected = flagged.detectedMs - faultAtMs;
  return detected >= TIMEOUT - INTERVAL && detected <= TIMEOUT + 2_000;
}

/** Seconds, or "never" for a figure that did not happen. */
const maybeSecs = (ms: number): string => (Number.isFinite(ms) ? secs(ms) : 'never');

/** A fault's duration or an observation window: time itself is what is being tested. */
const hold = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function watch(ctx: ScenarioContext, workerIds: readonly string[]): Promise<RegistryWatch> {
  const w = await RegistryWatch.open(ctx.target.uri, ctx.target.database, workerIds);
  ctx.cleanup(() => w.close());
  return w;
}

function sameSpecs(doc: WorkerDoc | undefined, specs: Specs): boolean {
  return (
    doc !== undefined &&
    doc.total_cpu === specs.total_cpu &&
    doc.total_memory === specs.total_memory &&
    doc.total_storage === specs.total_storage &&
    doc.total_gpu === specs.total_gpu
  );
}

/** Registers `count` workers, starts the master and one agent each; resolves when all are active. */
async function fleet(
  ctx: ScenarioContext,
  prefix: string,
  count: number,
  masterOptions: MasterOptions = {},
): Promise<{ master: MasterProc; ids: string[]; tokens: Map<string, string>; agents: Map<string, Proc>; watch: RegistryWatch }> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
  const tokens = await registerWorkers(ctx.target, ids);
  const master = await startMaster(ctx.procs, ctx.target, 'master', masterOptions);
  const w = await watch(ctx, ids);
  const agents = new Map<string, Proc>();
  for (const id of ids) {
    agents.set(id, startAgent(ctx.procs, `agent ${id}`, { masterUrl: agentUrl(master), workerId: id, token: tokens.get(id) ?? '', specs: FAKE_SPECS }));
  }
  await w.untilAll(ids, true, 15_000 + 1_000 * count);
  return { master, ids, tokens, agents, watch: w };
}

/** Times of the first `n` records with this event from line `from` on; waits for them. */
async function nthEvents(p: Proc, event: string, n: number, from: number, timeoutMs: number): Promise<number[]> {
  let seen = 0;
  await p.waitForLine(`${n} x ${event}`, (l) => l.json?.event === event && ++seen >= n, { from, timeoutMs });
  return agentEvents(p, event, from)
    .slice(0, n)
    .map((e) => e.atMs);
}

/** The one that is admitted by its agent after `fromMs`, for each agent. */
function admittedAfter(agent: Proc, fromMs: number): number | undefined {
  return agentEvents(agent, 'admitted').find((e) => e.atMs > fromMs)?.atMs;
}

beforeAll(async () => {
  db = await DevDb.start();
}, 180_000);

afterAll(async () => {
  const leaked = liveChildren();
  await Promise.all(leaked.map((p) => p.kill()));
  await db?.destroy();
  const table = await summary.write();
  console.log(`\n[e2e] summary (also in .cache/e2e/summary.txt), timeout ${secs(TIMEOUT)}, beats every ${INTERVAL} ms:\n${table}\n`);
  if (leaked.length > 0) throw new Error(`processes outlived their scenario: ${leaked.map((p) => p.name).join(', ')}`);
}, 60_000);

describe.sequential('end-to-end under faults (real processes, dev database)', () => {
  scenario('1 happy path', 60_000, async (ctx) => {
    const id = 'happy-1';
    const token = await registerWorker(ctx.target, id);
    const master = await startMaster(ctx.procs, ctx.target, 'master');
    const probeRun = await runToEnd(process.execPath, [AGENT_MAIN, 'probe', '--json']);
    expect(probeRun.code, probeRun.stderr).toBe(0);
    const probed = (JSON.parse(probeRun.stdout) as { specs: Specs }).specs;
    const w = await watch(ctx, [id]);
    // The real probe: the document must show what `cluster-agent probe` measures.
    const agent = startAgent(ctx.procs, 'agent', { masterUrl: agentUrl(master), workerId: id, token });
    const admitted = await agent.waitForRecord('admitted', (r) => r.event === 'admitted', { timeoutMs: 20_000 });
    // Active with the specs: they are written in the same flush as the first heartbeat (or should be).
    let activeWithoutSpecs = 0;
    const active = await w.until(
      'active with the probe\'s specs',
      (s) => {
        const d = s.docs.get(id);
        if (d?.is_active === true && !sameSpecs(d, probed)) activeWithoutSpecs += 1;
        return d?.is_active === true && sameSpecs(d, probed);
      },
      5_000,
    );
    const activeAfterMs = active.recvMs - admitted.atMs;

    const beats = new Set<number>();
    const updates = new Set<number>();
    const windowMs = 2_500;
    const end = performance.now() + windowMs;
    await w.until(
      'an observation window of 2.5 s',
      (s) => {
        const d = s.docs.get(id);
        if (d?.is_active === true) {
          beats.add(d.last_heartbeat);
          updates.add(d.updated_at.getTime());
        }
        return s.recvMs >= end;
      },
      windowMs + 2_000,
    );
    const typed = await w.hasContractTypes(id);
    const listed = await masterCli(ctx.target, ['worker', 'list', '--active', '--json']);
    const list = JSON.parse(listed.stdout || '[]') as { worker_id: string; is_active: boolean }[];
    const inList = listed.code === 0 && list.some((x) => x.worker_id === id && x.is_active);
    ctx.figure(
      '1 happy path',
      `admitted -> active with the probe's specs ${JSON.stringify(probed)} after ${secs(activeAfterMs)} (polls that saw it active with other specs: ${activeWithoutSpecs}); last_heartbeat took ${beats.size} values and updated_at ${updates.size} in ${secs(windowMs)}; BSON types ok: ${typed}; worker list --active lists it: ${inList}`,
      'active with specs <= 1 s after admission; last_heartbeat >= 2 values, updated_at >= 5 values in 2.5 s; listed',
      activeAfterMs <= 1_000 && beats.size >= 2 && updates.size >= 5 && typed && inList,
    );
  });

  scenario('2 agent SIGTERM', 30_000, async (ctx) => {
    const { agents, ids, watch: w } = await fleet(ctx, 'term', 1);
    const [id] = ids as [string];
    const agent = agents.get(id) as Proc;
    await hold(3 * INTERVAL); // a few beats on the wire
    const t0 = agent.signal('SIGTERM');
    const exit = await agent.exited;
    await w.untilAll([id], false, 5_000);
    const flagged = w.transitionsTo(false, t0, id)[0];
    const afterMs = (flagged?.detectedMs ?? Infinity) - t0;
    const exitMs = exit.atMs - t0;
    ctx.figure(
      '2 agent SIGTERM',
      `SIGTERM -> inactive after ${secs(afterMs)}; agent exit code ${exit.code} after ${secs(exitMs)}`,
      'inactive <= 1.00 s; exit code 0',
      afterMs <= 1_000 && exit.code === 0,
    );
  });

  scenario('3 agent SIGKILL', 30_000, async (ctx) => {
    const { agents, ids, watch: w } = await fleet(ctx, 'kill', 1);
    const [id] = ids as [string];
    await hold(3 * INTERVAL);
    const t0 = (agents.get(id) as Proc).signal('SIGKILL');
    await w.untilAll([id], false, TIMEOUT + 5_000);
    const flagged = w.transitionsTo(false, t0, id)[0];
    const afterMs = (flagged?.detectedMs ?? Infinity) - t0;
    const earliestMs = (flagged?.earliestMs ?? -Infinity) - t0;
    ctx.figure(
      '3 agent SIGKILL',
      `SIGKILL -> inactive after ${secs(afterMs)} (timeout ${secs(TIMEOUT)}; still active at ${secs(earliestMs)})`,
      NOT_EARLY_NOR_LATE,
      onTime(flagged, t0),
    );
  });

  scenario('4 agent SIGSTOP/SIGCONT', 40_000, async (ctx) => {
    const { agents, ids, watch: w } = await fleet(ctx, 'stop', 1);
    const [id] = ids as [string];
    const agent = agents.get(id) as Proc;
    await hold(3 * INTERVAL);
    const t0 = agent.signal('SIGSTOP');
    await w.untilAll([id], false, TIMEOUT + 5_000);
    const flagged = w.transitionsTo(false, t0, id)[0];
    const afterMs = (flagged?.detectedMs ?? Infinity) - t0;
    const earliestMs = (flagged?.earliestMs ?? -Infinity) - t0;
    ctx.figure(
      '4a agent SIGSTOP',
      `SIGSTOP -> inactive after ${secs(afterMs)} (still active at ${secs(earliestMs)})`,
      NOT_EARLY_NOR_LATE,
      onTime(flagged, t0),
    );
    await hold(500); // hung a while longer
    const t1 = agent.signal('SIGCONT');
    await w.untilAll([id], true, CAP + 10_000);
    const back = w.transitionsTo(true, t1, id)[0];
    const backMs = (back?.detectedMs ?? Infinity) - t1;
    const reconnected = admittedAfter(agent, t1) !== undefined;
    ctx.figure(
      '4b agent SIGCONT',
      `SIGCONT -> active again after ${secs(backMs)}, the same agent process reconnected by itself: ${reconnected}`,
      `<= reconnect cap + 2 s (${secs(CAP + 2_000)})`,
      backMs <= CAP + 2_000 && reconnected && agent.alive,
    );
  });

  scenario('5 network cut (netns)', 60_000, async (ctx) => {
    const created = await createNetns();
    if (!created.ok) return ctx.skip(created.reason);
    const ns = created.netns;
    ctx.cleanup(() => ns.destroy());
    const id = 'netcut-1';
    const welcomeTimeoutMs = 1_000;
    const token = await registerWorker(ctx.target, id, ns.nsAddress);
    // Listens on the host end only; the source check stays on (worker_ip is the namespace's address).
    const master = await startMaster(ctx.procs, ctx.target, 'master', { host: ns.hostAddress });
    const w = await watch(ctx, [id]);
    const agent = startAgent(ctx.procs, 'agent (netns)', {
      masterUrl: agentUrl(master),
      workerId: id,
      token,
      specs: FAKE_SPECS,
      welcomeTimeoutMs,
      netns: ns.name,
    });
    await w.untilAll([id], true, 20_000);
    await hold(3 * INTERVAL);
    const t0 = performance.now();
    await ns.setLink(false);
    await w.untilAll([id], false, TIMEOUT + 6_000);
    const flagged = w.transitionsTo(false, t0, id)[0];
    const afterMs = (flagged?.detectedMs ?? Infinity) - t0;
    const earliestMs = (flagged?.earliestMs ?? -Infinity) - t0;
    ctx.figure(
      '5a link down',
      `link down -> inactive after ${secs(afterMs)} (still active at ${secs(earliestMs)})`,
      NOT_EARLY_NOR_LATE,
      onTime(flagged, t0),
    );
    await hold(1_000); // the cable stays cut a while longer
    const t1 = performance.now();
    await ns.setLink(true);
    await w.untilAll([id], true, 15_000);
    const back = w.transitionsTo(true, t1, id)[0];
    const backMs = (back?.detectedMs ?? Infinity) - t1;
    const bound = CAP + welcomeTimeoutMs + 2_000;
    ctx.figure(
      '5b link up',
      `link up -> active again after ${secs(backMs)} (same agent process: ${agent.alive})`,
      `<= reconnect cap + welcome timeout + 2 s (${secs(bound)})`,
      backMs <= bound && agent.alive,
    );
  });

  scenario('6 master SIGKILL, restart within timeout/2', 60_000, async (ctx) => {
    const { master, ids, agents, watch: w } = await fleet(ctx, 'mrestart', 3);
    await hold(3 * INTERVAL);
    const t0 = master.proc.signal('SIGKILL');
    await master.proc.exited;
    const restartMs = performance.now() - t0;
    const second = await startMaster(ctx.procs, ctx.target, 'master (restarted)', { port: master.port });
    const admissions = await Promise.all(
      ids.map((id) => second.proc.waitForRecord(`${id} admitted`, (r) => r.msg === 'admitted' && r.worker_id === id, { timeoutMs: CAP + 10_000 })),
    );
    const lastAdmittedMs = Math.max(...admissions.map((a) => a.atMs)) - t0;
    // Watch on past the restarted master's first allowed sweep (one timeout after its start).
    await hold(Math.max(0, second.listeningAtMs + TIMEOUT + 1_500 - performance.now()));
    const flags = w.transitionsTo(false, t0 - 1);
    const watchedMs = performance.now() - t0;
    const agentsAlive = [...agents.values()].every((a) => a.alive);
    ctx.figure(
      '6 master restart < timeout/2',
      `restarted ${secs(restartMs)} after SIGKILL (listening after ${secs(second.listeningAtMs - t0)}); ${ids.length}/${ids.length} readmitted, the last after ${secs(lastAdmittedMs)}; inactive flags ${flags.length} over ${secs(watchedMs)} (${w.failures.length} failed polls)`,
      `restart <= ${secs(TIMEOUT / 2)}; readmitted <= cap + 2 s (${secs(CAP + 2_000)}) after the kill; 0 inactive`,
      restartMs <= TIMEOUT / 2 && lastAdmittedMs <= CAP + 2_000 && flags.length === 0 && agentsAlive,
    );
  });

  scenario('7 master down longer than the timeout', 60_000, async (ctx) => {
    const { master, ids, watch: w } = await fleet(ctx, 'mdown', 3);
    await hold(3 * INTERVAL);
    const downMs = 3 * TIMEOUT;
    const t0 = master.proc.signal('SIGKILL');
    await master.proc.exited;
    await hold(downMs);
    const second = await startMaster(ctx.procs, ctx.target, 'master (back)', { port: master.port });
    const back = second.listeningAtMs;
    const flagBound = TIMEOUT + 1_000;
    const activeBound = CAP + 2_000;
    // Every worker flagged inactive after the master died, then active again.
    const cycled = (id: string): boolean => {
      const off = w.transitionsTo(false, t0, id)[0];
      return off !== undefined && w.transitionsTo(true, off.detectedMs, id).length > 0;
    };
    await w.until('every worker flagged inactive and active again', () => ids.every(cycled), flagBound + activeBound + 3_000).catch(() => undefined);
    const flaggedAt = ids.map((id) => w.transitionsTo(false, t0, id)[0]?.detectedMs);
    const activeAt = ids.map((id, i) => w.transitionsTo(true, flaggedAt[i] ?? Infinity, id)[0]?.detectedMs);
    const worstFlag = Math.max(...flaggedAt.map((t) => (t ?? Infinity) - back));
    const worstActive = Math.max(...activeAt.map((t) => (t ?? Infinity) - back));
    const flaggedCount = flaggedAt.filter((t) => t !== undefined).length;
    const activeNow = ids.filter((id) => w.latest?.docs.get(id)?.is_active === true).length;
    ctx.figure(
      '7 master down > timeout',
      `down ${secs(downMs)}; flagged inactive ${flaggedCount}/${ids.length}, the last ${maybeSecs(worstFlag)} after the master was back; active again ${maybeSecs(worstActive)} after it (active now ${activeNow}/${ids.length})`,
      `flagged <= timeout + 1 s (${secs(flagBound)}) after back; active again <= cap + 2 s (${secs(activeBound)}) after back`,
      worstFlag <= flagBound && worstActive <= activeBound,
    );
  });

  scenario('8 database outage', 90_000, async (ctx) => {
    const database = db as DevDb;
    const { master, ids, agents, watch: w } = await fleet(ctx, 'dbout', 3, { logLevel: 'debug' });
    await hold(3 * INTERVAL);
    const masterLinesBefore = master.proc.lines.length;
    const agentLinesBefore = new Map([...agents].map(([id, a]) => [id, a.lines.length]));
    const t0 = performance.now();
    await database.stop();
    const tDown = performance.now();
    const outageMs = 3 * TIMEOUT;
    await hold(outageMs);
    const masterAliveInOutage = master.proc.alive;
    // Anything written from here on was written after the outage.
    const wallRestart = Date.now();
    await database.restart();
    const tUp = performance.now();
    const fresh = await w
      .until(
        'heartbeats written again',
        (s) =>
          ids.every((id) => {
            const d = s.docs.get(id);
            return d !== undefined && d.updated_at.getTime() >= wallRestart && d.last_heartbeat >= Math.floor(wallRestart / 1000);
          }),
        10_000,
      )
      .catch(() => undefined);
    const writtenAfterMs = (fresh?.recvMs ?? Infinity) - tUp;
    // Past the sweep the master allows itself one timeout after the database is back.
    await hold(Math.max(0, tUp + TIMEOUT + 1_500 - performance.now()));
    const flags = w.transitionsTo(false, t0 - 1);
    const readmissions = masterRecords(master.proc, 'admitted', undefined, masterLinesBefore).length;
    const agentDisconnects = [...agents].reduce((n, [id, a]) => n + agentEvents(a, 'disconnected', agentLinesBefore.get(id)).length, 0);
    const listed = await masterCli(ctx.target, ['worker', 'list', '--json']);
    const registered = listed.code === 0 ? (JSON.parse(listed.stdout) as { worker_id: string }[]).map((x) => x.worker_id) : [];
    const allPresent = ids.every((id) => registered.includes(id));
    const sawOutage = masterRecords(master.proc, 'database error; retrying with backoff', undefined, masterLinesBefore).length > 0;
    // When the database really stopped answering: devdb's stop lets open connections finish for a few seconds.
    const unreachableFrom = w.failures.find((f) => f.sentMs > t0)?.sentMs ?? tDown;
    ctx.figure(
      '8 database outage',
      `database unreachable ${secs(tUp - unreachableFrom)} (process gone ${secs(tUp - tDown)}); heartbeats in the database ${secs(writtenAfterMs)} after it answered again; master up: ${masterAliveInOutage && master.proc.alive}, saw the outage: ${sawOutage}; agent reconnects ${readmissions}, disconnects ${agentDisconnects}; inactive flags ${flags.length}; registered ${registered.length}/${ids.length}`,
      'heartbeats <= 2 s after return; master up; 0 reconnects; 0 inactive; no registration lost',
      writtenAfterMs <= 2_000 &&
        masterAliveInOutage &&
        master.proc.alive &&
        readmissions === 0 &&
        agentDisconnects === 0 &&
        flags.length === 0 &&
        allPresent,
    );
  });

  scenario('9 unregister a connected worker', 60_000, async (ctx) => {
    const { tokens, ids, agents, master, watch: w } = await fleet(ctx, 'unreg', 1);
    const [id] = ids as [string];
    const agent = agents.get(id) as Proc;
    const from = agent.lines.length;
    const t0 = performance.now();
    const unregistered = await masterCli(ctx.target, ['worker', 'unregister', id]);
    expect(unregistered.code, unregistered.stderr).toBe(0);
    const closed = await agent.waitForRecord('disconnected 4404', (r) => r.event === 'disconnected' && r.code === 4404, { from, timeoutMs: 8_000 });
    const closedMs = closed.atMs - t0;
    // Two refused attempts after the close: how far apart are the tries?
    await nthEvents(agent, 'refused', 2, from, 3 * REFUSED * 1.2 + 4_000);
    // Every attempt after the close, whatever its outcome: how far apart are they?
    const attempts = agent
      .records(from)
      .filter((r) => r.atMs > closed.atMs && (r.rec.event === 'refused' || r.rec.event === 'admitted' || r.rec.event === 'connect-failed'));
    const gaps = attempts.map((a, i) => a.atMs - (i === 0 ? closed.atMs : (attempts[i - 1]?.atMs ?? 0)));
    const wronglyAdmitted = attempts.filter((a) => a.rec.event === 'admitted').length;
    const slowRetries = agentEvents(agent, 'retry', from).every((r) => r.rec.slow === true);
    const minGap = Math.min(...gaps);
    ctx.figure(
      '9a unregister',
      `unregister -> agent closed 4404 after ${secs(closedMs)}; then ${attempts.length} attempts ${gaps.map(secs).join(', ')} apart (${attempts.map((a) => a.rec.event === 'refused' ? `refused ${String(a.rec.status)}` : String(a.rec.event)).join(', ')}); all retries slow: ${slowRetries}; admitted while unregistered: ${wronglyAdmitted}`,
      `closed <= 5 s; attempts >= 0.8 x refused-retry (${secs(0.8 * REFUSED)}) apart; never admitted while unregistered`,
      closedMs <= 5_000 && minGap >= 0.8 * REFUSED - 50 && slowRetries && wronglyAdmitted === 0,
    );

    const oldToken = tokens.get(id);
    const newToken = await registerWorker(ctx.target, id);
    const stopped = agent.signal('SIGTERM');
    await agent.exited;
    const again = startAgent(ctx.procs, 'agent (new token)', { masterUrl: agentUrl(master), workerId: id, token: newToken, specs: FAKE_SPECS });
    const admitted = await again.waitForRecord('admitted', (r) => r.event === 'admitted', { timeoutMs: 15_000 });
    const active = await w.until('active with its specs again', (s) => s.docs.get(id)?.is_active === true && sameSpecs(s.docs.get(id), FAKE_SPECS), 5_000);
    const refusals = agentEvents(again, 'refused');
    const refusedFirst = refusals.length;
    ctx.figure(
      '9b register again',
      `new token (differs: ${newToken !== oldToken}); restarted agent admitted ${secs(admitted.atMs - stopped)} after the old one was stopped, ${refusedFirst} refusals first${refusedFirst > 0 ? ` (HTTP ${refusals.map((r) => String(r.rec.status)).join(', ')})` : ''}; active with its specs ${secs(active.recvMs - admitted.atMs)} after admission`,
      'new token; admitted at the first attempt; active <= 1 s after admission',
      newToken !== oldToken && refusedFirst === 0 && active.recvMs - admitted.atMs <= 1_000,
    );
  });

  scenario('10 two agents claim one worker id', 60_000, async (ctx) => {
    const { tokens, ids, agents, master, watch: w } = await fleet(ctx, 'dup', 1);
    const [id] = ids as [string];
    const first = agents.get(id) as Proc;
    const firstFrom = first.lines.length;
    const second = startAgent(ctx.procs, 'agent (duplicate)', { masterUrl: agentUrl(master), workerId: id, token: tokens.get(id) ?? '', specs: FAKE_SPECS });
    const secondIn = await second.waitForRecord('admitted', (r) => r.event === 'admitted', { timeoutMs: 15_000 });
    const replaced = await first.waitForRecord('replaced (4409)', (r) => r.event === 'disconnected' && r.code === 4409, { from: firstFrom, timeoutMs: 5_000 });
    const masterFrom = master.proc.lines.length;
    const windowMs = 6_000;
    await hold(windowMs);
    const admissions = masterRecords(master.proc, 'admitted', id, masterFrom);
    const perSecond = admissions.length / (windowMs / 1000);
    const gaps = admissions.slice(1).map((a, i) => a.atMs - (admissions[i]?.atMs ?? a.atMs));
    const medianGap = gaps.length === 0 ? windowMs : [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)] ?? 0;
    const flags = w.transitionsTo(false, secondIn.atMs - 1_000);
    // Logged: the loser says it was replaced, at warn or above, with the likely cause.
    const loserLogged = ((replaced.rec.level as number) ?? 0) >= 40 && String(replaced.rec.msg).includes('same worker id');
    // Not a busy loop: each agent's backoff grows with every replacement (never reset: no stable session).
    const attemptsGrow = [first, second].every((a) => {
      const attempts = agentEvents(a, 'retry').map((r) => Number(r.rec.attempt));
      return attempts.every((n, i) => i === 0 || n > (attempts[i - 1] ?? 0));
    });
    const replacedLater = admissions.length;
    ctx.figure(
      '10 duplicate worker id',
      `newer connection won (old closed 4409 ${secs(replaced.atMs - secondIn.atMs)} after the new one was admitted); then ${replacedLater} admissions in ${secs(windowMs)} (${perSecond.toFixed(1)}/s, median gap ${secs(medianGap)}); backoff grows: ${attemptsGrow}; loser logged at warn: ${loserLogged}; inactive flags ${flags.length}`,
      '0 inactive; <= 6 admissions/s with cap 1 s (a busy loop would be hundreds, a reset backoff over 11); backoff never reset; logged',
      flags.length === 0 && perSecond <= 6 && attemptsGrow && loserLogged && replaced.atMs - secondIn.atMs <= 1_000,
    );
  });

  scenario('11 twenty agents, master SIGTERM', 120_000, async (ctx) => {
    const { master, ids, agents, watch: w } = await fleet(ctx, 'fleet', 20);
    await hold(3 * INTERVAL);
    const masterFrom = master.proc.lines.length;
    const wallT0 = Date.now();
    const t0 = master.proc.signal('SIGTERM');
    const exit = await Promise.race([master.proc.exited, hold(20_000).then(() => undefined)]);
    const exitMs = (exit?.atMs ?? Infinity) - t0;
    const closes = await Promise.all(
      ids.map((id) =>
        (agents.get(id) as Proc)
          .waitForRecord('closed 4503', (r) => r.event === 'disconnected' && r.code === 4503, { timeoutMs: 5_000 })
          .then((r) => r.atMs - t0)
          .catch(() => undefined),
      ),
    );
    const closedClean = closes.filter((c) => c !== undefined).length;
    const unwritten = masterRecords(master.proc, 'could not write everything before closing', undefined, masterFrom).length;
    const docs = (await w.next()).docs;
    const floorSecond = Math.floor(wallT0 / 1000) - 1;
    const flushed = ids.filter((id) => (docs.get(id)?.last_heartbeat ?? 0) >= floorSecond).length;
    ctx.figure(
      '11 master SIGTERM, 20 agents',
      `SIGTERM -> master exit code ${exit?.code ?? 'none'} after ${secs(exitMs)}; ${closedClean}/${ids.length} agents closed 4503 (last after ${secs(Math.max(...closes.map((c) => c ?? Infinity)))}); last_heartbeat >= the second before SIGTERM: ${flushed}/${ids.length}; unwritten-at-close warnings ${unwritten}`,
      // The master waits its hand-over grace (one interval + two flushes + 2 s) before the final flush.
      `exit 0 <= hand-over grace + 5 s (${secs(HANDOVER_GRACE + 5_000)}); every agent closed 4503; every last_heartbeat flushed`,
      exit?.code === 0 && exitMs <= HANDOVER_GRACE + 5_000 && closedClean === ids.length && flushed === ids.length && unwritten === 0,
    );
  });
});
