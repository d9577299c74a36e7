import { writeFileSync } from 'node:fs';
import { createCredentialStore, createWorkerRegistry } from '../../../packages/master/dist/index.js';
import type { BenchContext } from './context.js';
import { credentials } from './context.js';
import { fleetSourceAddress } from './fleet-address.js';
import { Fleet } from './fleet-client.js';
import { waitConnected } from './master-rig.js';
import { sampleProcess } from './procfs.js';
import { installedAgentNodeFlags, startMaster, startRealAgent, type Daemon, type MasterDaemon } from './processes.js';
import { metric, readyz, scrape } from './prom.js';
import { check, fmt, type Row } from './report.js';
import { MasterProbe, openFds } from './soak-probe.js';
import { writeSoakPlot } from './soak-plot.js';
import { TcpCutter } from './tcp-cutter.js';
import { median, progress, sleep, waitUntil } from './util.js';

/**
 * Soak: a month of a fleet's churn compressed into the run (`--duration-s`,
 * one hour for the real thing), to find what only shows over days: a leaked
 * listener per reconnect, a map that only grows, file descriptors, a heap
 * that creeps. Every soak minute (`--soak-minute-s`, 60 s; less compresses
 * further for a quick try) the fleet simulators:
 *
 * - close 1 % of the agents cleanly, which come back at once;
 * - silence 1 % (no close: the socket stays, nothing is sent), which come
 *   back after the heartbeat timeout (the master must flag each one, once);
 * - reconnect 0.2 % with changed specs (two sets, in turn);
 * - rotate the token of 2 workers (the new token given to their agent, as a
 *   rewritten token file would);
 * - unregister 2 workers and register them again (a new token likewise).
 *
 * One real `cluster-agent run` goes through a TCP relay that is cut every
 * `REAL_AGENT_CUT_MS` (a network blip: the agent reconnects with its backoff).
 *
 * Every 5 soak minutes: the master's RSS, heap used after a forced GC (over
 * its inspector), open fds, event-loop delay p99, the real agent's RSS. At
 * the end: the registry against what the fleet holds (every worker active,
 * none missing, none extra), and the inactive flags against what the churn
 * explains. A PNG (and SVG) of the series is written to the run's directory.
 */

/**
 * The real agent's connection is cut this long after it was made. Its
 * reconnect backoff only resets after a 30 s connection, so it runs with
 * AGENT_RECONNECT_CAP_MS=REAL_AGENT_RECONNECT_CAP_MS (an operator setting):
 * each reconnect then waits 0 to 2 s, about 1,000 to 1,500 reconnects an
 * hour, through the same code paths as with the default 10 s cap.
 */
export const REAL_AGENT_CUT_MS = 1_500;
export const REAL_AGENT_RECONNECT_CAP_MS = 2_000;
const ROTATIONS_PER_MINUTE = 2;
const REREGISTRATIONS_PER_MINUTE = 2;
const SAMPLE_EVERY_MINUTES = 5;
/** The verdicts look at the last 40 soak minutes (of 60), scaled to shorter runs. */
const VERDICT_WINDOW_SHARE = 40 / 60;

export interface SoakSample {
  /** Soak minutes since the churn started. */
  minute: number;
  masterRssBytes: number;
  heapUsedAfterGcBytes: number;
  fds: number;
  connectedAgents: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  realAgentRssBytes: number | undefined;
  realAgentReconnects: number;
}

export interface SoakResult {
  agents: number;
  minuteS: number;
  minutes: number;
  series: SoakSample[];
  churn: { cleanCloses: number; vanished: number; specChanges: number; rotations: number; reregistrations: number };
  flagged: Record<string, number>;
  /** Flags the churn does not explain: every sweep flag, and timeouts beyond the agents silenced. */
  falseFlags: number;
  /** Workers whose document disagrees with the fleet at the end (missing, extra, or is_active wrong), with a few named. */
  registryDifferences: number;
  differencesExamples: string[];
  realAgent: { reconnects: number; cuts: number; rssAfter100Bytes: number[] };
  /** Growth over the verdicts' window (see `ends`); fds less the connected agents, as a change in count. */
  verdicts: { rssGrowth: number | undefined; heapGrowth: number | undefined; fdsChange: number | undefined; realAgentRssRangeBytes: number | undefined };
  plot: { png: string | undefined; svg: string; note?: string };
}

/** A small deterministic PRNG (mulberry32): the same churn for the same run length. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function takeRandom(pool: string[], count: number, random: () => number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count && pool.length > 0; i += 1) {
    const k = Math.floor(random() * pool.length);
    out.push(pool[k] ?? '');
    pool[k] = pool[pool.length - 1] ?? '';
    pool.pop();
  }
  return out;
}

/**
 * The change over a window, from the median of its first quarter of samples
 * to that of its last (one sample each for short windows): RSS moves a few
 * per cent between two samples with the churn of the moment, a leak moves
 * every sample after it.
 */
function ends(series: readonly number[]): { first: number; last: number } | undefined {
  if (series.length < 2) return undefined;
  const k = Math.max(1, Math.floor(series.length / 4));
  const first = median(series.slice(0, k));
  const last = median(series.slice(-k));
  return first === undefined || last === undefined ? undefined : { first, last };
}

function growth(series: readonly number[]): number | undefined {
  const e = ends(series);
  return e === undefined || e.first === 0 ? undefined : (e.last - e.first) / e.first;
}

export async function runSoak(ctx: BenchContext): Promise<SoakResult> {
  const { args } = ctx;
  const minuteS = args.soakMinuteS;
  const minutes = Math.max(1, Math.floor(args.durationS / minuteS));
  const random = prng(20_260_101);
  const registry = createWorkerRegistry(ctx.db);
  const store = createCredentialStore(ctx.db);
  const tokens = new Map(ctx.tokenOf);

  const master: MasterDaemon = await startMaster({ mongoUri: `mongodb://${ctx.dbHost}:${ctx.dbPort}/`, database: ctx.database, port: 0, logFile: `${ctx.runDir}/soak-master.log`, inspect: true });
  ctx.cleanups.unshift(() => master.kill());
  await waitUntil('the master to be ready', async () => ((await readyz(master.port)) === 200 ? true : undefined), 120_000, 200);
  if (master.inspectorUrl === undefined) throw new Error('soak: the master has no inspector');
  const probe = await MasterProbe.connect(master.inspectorUrl);

  const fleet = await Fleet.start({ url: `ws://127.0.0.1:${master.port}/agent`, specs: ctx.specs, credentials: credentials(ctx, ctx.fleetIds), sampled: [], perProcess: args.perProcess, onBeats: () => undefined });
  ctx.cleanups.unshift(() => fleet.kill());
  progress(`soak: ramping ${args.agents} agents`);
  await fleet.ramp(args.rampPerSecond, args.rampInFlight);
  await waitConnected(master.port, args.agents, (args.agents / args.rampPerSecond) * 3_000 + 90_000);

  const cutter = new TcpCutter(master.port, REAL_AGENT_CUT_MS);
  const cutterPort = await cutter.listen();
  const realId = ctx.realAgentIds[0];
  const real: Daemon = startRealAgent({ masterUrl: `ws://127.0.0.1:${cutterPort}`, workerId: realId, token: tokens.get(realId) ?? '', logFile: `${ctx.runDir}/soak-real-agent.log`, nodeFlags: installedAgentNodeFlags(), env: { AGENT_RECONNECT_CAP_MS: String(REAL_AGENT_RECONNECT_CAP_MS) } });
  ctx.cleanups.unshift(() => real.kill());
  await waitConnected(master.port, args.agents + 1, 60_000);

  const m0 = await scrape(master.port);
  const churn = { cleanCloses: 0, vanished: 0, specChanges: 0, rotations: 0, reregistrations: 0 };
  const away = new Set<string>();
  const returns: Promise<void>[] = [];
  const series: SoakSample[] = [];
  const realRssAfter100: number[] = [];
  const specsB = { ...ctx.specs, total_memory: ctx.specs.total_memory * 2 };
  const t0 = performance.now();
  progress(`soak: ${minutes} soak minutes of ${minuteS} s, ${args.agents} agents + 1 real agent (each connection cut after ${REAL_AGENT_CUT_MS / 1000} s)`);

  const sample = async (minute: number): Promise<void> => {
    const metrics = await scrape(master.port);
    const loop = await probe.loopDelay();
    const s: SoakSample = {
      minute,
      masterRssBytes: sampleProcess(master.pid)?.rssBytes ?? 0,
      heapUsedAfterGcBytes: await probe.heapUsedAfterGc(),
      fds: openFds(master.pid) ?? 0,
      connectedAgents: metric(metrics, 'cluster_master_connected_agents'),
      loopDelayP99Ms: loop.p99Ms,
      loopDelayMaxMs: loop.maxMs,
      realAgentRssBytes: sampleProcess(real.pid)?.rssBytes,
      realAgentReconnects: Math.max(0, cutter.accepted - 1),
    };
    series.push(s);
    progress(`soak minute ${minute}: master RSS ${fmt(s.masterRssBytes / 1e6, 'MB')}, heap after GC ${fmt(s.heapUsedAfterGcBytes / 1e6, 'MB')}, fds ${s.fds}, agents ${s.connectedAgents}, loop p99 ${fmt(s.loopDelayP99Ms, 'ms')}, real agent ${fmt((s.realAgentRssBytes ?? 0) / 1e6, 'MB')} after ${s.realAgentReconnects} reconnects`);
  };

  await sample(0);
  for (let minute = 1; minute <= minutes; minute += 1) {
    const pool = ctx.fleetIds.filter((id) => !away.has(id));
    const onePercent = Math.max(1, Math.round(args.agents / 100));
    const closing = takeRandom(pool, onePercent, random);
    const vanishing = takeRandom(pool, onePercent, random);
    const changing = takeRandom(pool, Math.max(1, Math.round(args.agents / 500)), random);
    const rotating = takeRandom(pool, ROTATIONS_PER_MINUTE, random);
    const reregistering = takeRandom(pool, REREGISTRATIONS_PER_MINUTE, random);

    await fleet.replace(closing);
    churn.cleanCloses += closing.length;
    await fleet.replace(changing, minute % 2 === 0 ? ctx.specs : specsB);
    churn.specChanges += changing.length;
    await fleet.silence(vanishing);
    churn.vanished += vanishing.length;
    for (const id of vanishing) away.add(id);
    returns.push(
      sleep(ctx.heartbeatTimeoutMs + 5_000).then(async () => {
        await fleet.replace(vanishing);
        for (const id of vanishing) away.delete(id);
      }),
    );
    const fresh = new Map<string, string>();
    for (const id of rotating) fresh.set(id, await store.rotate(id));
    churn.rotations += rotating.length;
    for (const id of reregistering) {
      await registry.unregisterWorker(id);
      await store.remove(id);
      await registry.registerWorker(id, fleetSourceAddress(id));
      fresh.set(id, await store.issue(id));
    }
    churn.reregistrations += reregistering.length;
    for (const [id, token] of fresh) tokens.set(id, token);
    // Their agents get the new token once the master's view holds it (it reads the admission version every 5 s):
    // one that tried before would be refused and wait out the agent's slow retry.
    const renewed = [...rotating, ...reregistering];
    for (const id of renewed) away.add(id);
    returns.push(
      sleep(6_000).then(async () => {
        await fleet.replace(renewed, undefined, fresh);
        for (const id of renewed) away.delete(id);
      }),
    );

    if (real.pid > 0 && cutter.accepted > 100 && realRssAfter100.length < 100_000) {
      const rss = sampleProcess(real.pid)?.rssBytes;
      if (rss !== undefined) realRssAfter100.push(rss);
    }
    if (minute % SAMPLE_EVERY_MINUTES === 0 || minute === minutes) await sample(minute);
    const due = t0 + minute * minuteS * 1_000;
    await sleep(Math.max(0, due - performance.now()));
  }

  progress('soak: churn over; waiting for every agent to be back');
  // The real agent is no longer cut from here on: the registry must hold it active at the end.
  cutter.stopCutting();
  await Promise.all(returns);
  await waitConnected(master.port, args.agents + 1, 120_000).catch((error: unknown) => progress(`soak: ${String(error)}`));
  // Two flushes and a sweep, so that the registry holds what the master knows.
  await sleep(5_000);
  const m1 = await scrape(master.port);
  const flagged = Object.fromEntries(
    ['sweep', 'timeout', 'clean_close', 'master_close', 'handover'].map((cause) => [
      cause,
      metric(m1, 'cluster_master_workers_flagged_inactive_total', { cause }) - metric(m0, 'cluster_master_workers_flagged_inactive_total', { cause }),
    ]),
  );
  const falseFlags = (flagged.sweep ?? 0) + Math.max(0, (flagged.timeout ?? 0) - churn.vanished);

  const documents = await ctx.workers.find({}, { projection: { _id: 0, worker_id: 1, is_active: 1 } }).toArray();
  const expected = new Map<string, boolean>([...ctx.fleetIds.map((id): [string, boolean] => [id, true]), [realId, true], [ctx.realAgentIds[1], false]]);
  const differences: string[] = [];
  const seen = new Set<string>();
  for (const doc of documents) {
    const id = String(doc.worker_id);
    seen.add(id);
    const want = expected.get(id);
    if (want === undefined) differences.push(`${id}: not expected (revived?)`);
    else if (doc.is_active !== want) differences.push(`${id}: is_active ${String(doc.is_active)}, its agent ${want ? 'connected' : 'not running'}`);
  }
  for (const id of expected.keys()) if (!seen.has(id)) differences.push(`${id}: document missing`);

  const last = series.at(-1)?.minute ?? minutes;
  const windowStart = last - minutes * VERDICT_WINDOW_SHARE;
  const inWindow = series.filter((s) => s.minute >= windowStart);
  const fdsLessSockets = inWindow.map((s) => s.fds - s.connectedAgents);
  const realRange = realRssAfter100.length > 1 ? Math.max(...realRssAfter100) - Math.min(...realRssAfter100) : undefined;

  const plot = await writeSoakPlot(
    `${ctx.runDir}/soak.png`,
    `soak: ${args.agents} agents, ${minutes} soak minutes of ${minuteS} s`,
    [
      { title: 'master RSS', unit: 'MB', points: series.map((s) => [s.minute, s.masterRssBytes / 1e6]) },
      { title: 'master heap used after GC', unit: 'MB', points: series.map((s) => [s.minute, s.heapUsedAfterGcBytes / 1e6]) },
      { title: 'master open fds', unit: 'fds', points: series.map((s) => [s.minute, s.fds]) },
      { title: 'master event-loop delay p99', unit: 'ms', points: series.map((s) => [s.minute, s.loopDelayP99Ms]) },
      { title: 'real agent RSS', unit: 'MB', points: series.map((s) => [s.minute, (s.realAgentRssBytes ?? 0) / 1e6]) },
    ],
    last,
  ).catch((error: unknown) => ({ svg: '', png: undefined, note: String(error) }));

  probe.close();
  await cutter.close();
  await real.stop();
  await fleet.kill();
  await master.stop();
  const result: SoakResult = {
    agents: args.agents,
    minuteS,
    minutes,
    series,
    churn,
    flagged,
    falseFlags,
    registryDifferences: differences.length,
    differencesExamples: differences.slice(0, 20),
    realAgent: { reconnects: Math.max(0, cutter.accepted - 1), cuts: cutter.cuts, rssAfter100Bytes: realRssAfter100 },
    verdicts: {
      rssGrowth: growth(inWindow.map((s) => s.masterRssBytes)),
      heapGrowth: growth(inWindow.map((s) => s.heapUsedAfterGcBytes)),
      fdsChange: (() => {
        const e = ends(fdsLessSockets);
        return e === undefined ? undefined : e.last - e.first;
      })(),
      realAgentRssRangeBytes: realRange,
    },
    plot,
  };
  writeFileSync(`${ctx.runDir}/soak-series.json`, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/** The table of the series (one row per sample) for the report's text, and the verdict rows. */
export function soakTable(result: SoakResult): string {
  const lines = ['minute | master RSS MB | heap after GC MB | fds | agents | loop p99 ms | real agent RSS MB | real agent reconnects'];
  for (const s of result.series) {
    lines.push([s.minute, fmt(s.masterRssBytes / 1e6), fmt(s.heapUsedAfterGcBytes / 1e6), s.fds, s.connectedAgents, fmt(s.loopDelayP99Ms), fmt((s.realAgentRssBytes ?? 0) / 1e6), s.realAgentReconnects].join(' | '));
  }
  return lines.join('\n');
}

export function soakRows(result: SoakResult | undefined): Row[] {
  if (result === undefined) return [];
  const pct = (x: number | undefined): string => (x === undefined ? '—' : `${(x * 100).toFixed(1)} %`);
  const window = `last ${Math.round(result.minutes * VERDICT_WINDOW_SHARE)} of ${result.minutes} soak minutes`;
  const r = result.verdicts;
  return [
    { scenario: 'soak', metric: `master RSS growth (${window})`, value: pct(r.rssGrowth), target: '≤ 5 %', verdict: check(r.rssGrowth === undefined ? undefined : r.rssGrowth <= 0.05) },
    { scenario: 'soak', metric: `master heap after GC growth (${window})`, value: pct(r.heapGrowth), target: '≤ 5 %', verdict: check(r.heapGrowth === undefined ? undefined : r.heapGrowth <= 0.05) },
    { scenario: 'soak', metric: `master fds less connected agents: change (${window})`, value: fmt(r.fdsChange), target: 'flat (≤ 10)', verdict: check(r.fdsChange === undefined ? undefined : r.fdsChange <= 10) },
    { scenario: 'soak', metric: `false inactive flags (flags: ${JSON.stringify(result.flagged)}; churn: ${JSON.stringify(result.churn)})`, value: String(result.falseFlags), target: '0', verdict: check(result.falseFlags === 0) },
    { scenario: 'soak', metric: 'registry differences at the end (missing, extra, is_active wrong)', value: String(result.registryDifferences), target: '0', verdict: check(result.registryDifferences === 0) },
    { scenario: 'soak', metric: `real agent reconnects (each connection cut after ${REAL_AGENT_CUT_MS / 1000} s; reconnect cap ${REAL_AGENT_RECONNECT_CAP_MS / 1000} s)`, value: String(result.realAgent.reconnects), target: '≥ 1,000 (an hour)', verdict: check(result.realAgent.reconnects >= 1_000) },
    {
      scenario: 'soak',
      metric: 'real agent RSS range after its first 100 reconnects',
      value: r.realAgentRssRangeBytes === undefined ? '—' : fmt(r.realAgentRssRangeBytes / 1e6, 'MB', 2),
      target: '≤ 2 MB',
      verdict: check(r.realAgentRssRangeBytes === undefined ? undefined : r.realAgentRssRangeBytes <= 2e6),
    },
    { scenario: 'soak', metric: 'plot of the series', value: result.plot.png ?? result.plot.svg, target: '', verdict: '' },
  ];
}
