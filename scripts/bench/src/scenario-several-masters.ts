import type { BenchContext } from './context.js';
import { connectedAgents } from './master-rig.js';
import { cpuBetween, ProcWatcher } from './procfs.js';
import { delta, metric, scrape, type MetricSnapshot } from './prom.js';
import type { RampOutcome } from './ramp-watch.js';
import { connectedTotal, type RigMaster, type SeveralMastersRig } from './several-masters-rig.js';
import { distribution, median, progress, sleep, type Distribution } from './util.js';
import { diffProxy, type ProxySnapshot } from './wire-proxy.js';

export interface MasterFigures {
  label: string;
  agents: number;
  heartbeatsPerSecond: number;
  dbWritesPerSecond: number;
  dbReadsPerSecond: number;
  cpuCoreShare: number;
  rssMedianBytes: number | undefined;
}

export interface FailoverResult {
  killed: string;
  /** Agents the killed master had welcomed when it was killed (the simulators' view). */
  agentsOnIt: number;
  /** SIGKILL → another master's welcome, over those agents. */
  movedMs: Distribution;
  movedAfterTimeout: number;
  neverMoved: number;
  /** SIGKILL → the survivors' gauges add up to the whole fleet. */
  allBackMs: number | undefined;
  observedS: number;
  /** Survivors, from the kill to the end of the observation. */
  heartbeatsPerSecond: number;
  dbWritesPerSecond: number;
  survivors: { label: string; agents: number }[];
}

export interface SeveralMastersResult {
  masters: number;
  agents: number;
  rampS: number;
  ramp: RampOutcome;
  steady: {
    windowS: number;
    agentsTotal: number;
    heartbeatsSentPerSecond: number;
    heartbeatsPerSecond: number;
    dbWritesPerSecond: number;
    dbReadsPerSecond: number;
    perMaster: MasterFigures[];
    fleetRssBytes: number;
  };
  failover: FailoverResult | undefined;
  /**
   * Inactive flags the masters sent (every cause, the flagged-inactive counter) from the end of
   * the ramp to the end of the run. No simulated agent stops or goes quiet in this run, so each
   * one is false; the killed master's count is taken just before its kill.
   */
  falseFlags: { total: number; byMaster: Record<string, Record<string, number>> };
  /** Fleet workers with is_active false in the database at the end (one scan). */
  inactiveInDbAtEnd: number;
}

const FLAGGED = 'cluster_master_workers_flagged_inactive_total';
const CAUSES = ['clean_close', 'timeout', 'sweep', 'master_close', 'handover'] as const;
/** The masters' stale sweep runs at most every 5 s at the default timeout (options.ts). */
const SWEEP_INTERVAL_MS = 5_000;

interface Mark {
  metrics: MetricSnapshot;
  proxy: ProxySnapshot;
}

/**
 * /metrics of a master, waiting out a busy spell: on a loaded machine a master's event loop can
 * stall for seconds (the ramp shows it), and a figure missing for that is worse than a late one.
 */
async function patientScrape(port: number): Promise<MetricSnapshot> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await scrape(port, 15_000);
    } catch (error) {
      if (attempt >= 4) throw error;
      progress(`/metrics of port ${port} did not answer (${error instanceof Error ? error.message : String(error)}); again`);
    }
  }
}

async function markAll(masters: readonly RigMaster[]): Promise<Mark[]> {
  return Promise.all(
    masters.map(async (m) => {
      const proxy = m.proxy.snapshot();
      return { metrics: await patientScrape(m.master.port), proxy };
    }),
  );
}

function flagsBetween(a: MetricSnapshot, b: MetricSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const cause of CAUSES) {
    const n = delta(a, b, FLAGGED, { cause });
    if (n > 0) out[cause] = n;
  }
  return out;
}

/** Steady state: every master's share of the fleet, heartbeats, database commands, CPU and memory. */
async function measureSteady(ctx: BenchContext, rig: SeveralMastersRig): Promise<SeveralMastersResult['steady']> {
  const { masters, fleet } = rig;
  progress(`steady state: measuring for ${ctx.args.durationS} s`);
  const before = await markAll(masters);
  const f0 = await fleet.stats();
  const watchers = masters.map((m) => new ProcWatcher(m.master.pid, 2_000));
  await sleep(ctx.args.durationS * 1_000);
  const ends = watchers.map((w) => w.stop());
  const after = await markAll(masters);
  const f1 = await fleet.stats();
  const perMaster = masters.map((m, i): MasterFigures => {
    const s0 = watchers[i]?.samples[0];
    const s1 = ends[i];
    const cpu = s0 !== undefined && s1 !== undefined ? cpuBetween(s0, s1) : undefined;
    const windowS = (cpu?.wallMs ?? ctx.args.durationS * 1_000) / 1_000;
    const a = before[i] as Mark;
    const b = after[i] as Mark;
    const db = diffProxy(a.proxy, b.proxy);
    return {
      label: m.label,
      agents: metric(b.metrics, 'cluster_master_connected_agents'),
      heartbeatsPerSecond: delta(a.metrics, b.metrics, 'cluster_master_heartbeats_received_total') / windowS,
      dbWritesPerSecond: db.writes / windowS,
      dbReadsPerSecond: db.reads / windowS,
      cpuCoreShare: cpu?.coreShare ?? Number.NaN,
      rssMedianBytes: median(watchers[i]?.samples.map((s) => s.rssBytes) ?? []),
    };
  });
  const windowS = ctx.args.durationS;
  const sum = (f: (m: MasterFigures) => number): number => perMaster.reduce((n, m) => n + f(m), 0);
  return {
    windowS,
    agentsTotal: sum((m) => m.agents),
    heartbeatsSentPerSecond: (f1.heartbeatsSent - f0.heartbeatsSent) / windowS,
    heartbeatsPerSecond: sum((m) => m.heartbeatsPerSecond),
    dbWritesPerSecond: sum((m) => m.dbWritesPerSecond),
    dbReadsPerSecond: sum((m) => m.dbReadsPerSecond),
    perMaster,
    fleetRssBytes: f1.rssBytes,
  };
}

/**
 * SIGKILL of the master holding the most agents. Its agents see their sockets
 * close and move on to the next URL of their list; the failover time of one
 * is from the kill to another master's welcome. Watched until all moved and
 * at least one timeout and one sweep after the kill (+5 s): a survivor's
 * sweep or timeout flagging a moved worker would come by then.
 */
async function killOne(ctx: BenchContext, rig: SeveralMastersRig): Promise<{ result: FailoverResult; killedMetrics: MetricSnapshot }> {
  const { fleet } = rig;
  const placement = await fleet.placement();
  const victim = [...rig.masters].sort((a, b) => (placement[b.url] ?? 0) - (placement[a.url] ?? 0))[0] as RigMaster;
  const survivors = rig.masters.filter((m) => m !== victim);
  const killedMetrics = await patientScrape(victim.master.port);
  const before = await markAll(survivors);
  const agentsOnIt = await fleet.mark(victim.url);
  progress(`failover: SIGKILL ${victim.label} (pid ${victim.master.pid}) holding ${agentsOnIt} agents`);
  const killAt = Date.now();
  const t0 = performance.now();
  await victim.master.kill();
  let allBackMs: number | undefined;
  let moves = new Map<string, number | null>();
  const observeMs = ctx.heartbeatTimeoutMs + SWEEP_INTERVAL_MS + 5_000;
  const deadline = ctx.heartbeatTimeoutMs + 60_000;
  for (;;) {
    const elapsed = performance.now() - t0;
    if (allBackMs === undefined && (await connectedTotal(survivors)) >= rig.ramp.reached) {
      allBackMs = performance.now() - t0;
      progress(`failover: the survivors hold all ${rig.ramp.reached} agents ${(allBackMs / 1000).toFixed(1)} s after the kill`);
    }
    moves = await fleet.moves();
    const pending = [...moves.values()].filter((at) => at === null).length;
    if ((pending === 0 && elapsed >= observeMs) || elapsed >= deadline) break;
    await sleep(500);
  }
  const observedS = (performance.now() - t0) / 1_000;
  const after = await markAll(survivors);
  const moved = [...moves.values()].filter((at): at is number => at !== null).map((at) => at - killAt);
  let beats = 0;
  let writes = 0;
  survivors.forEach((m, i) => {
    beats += delta(before[i]?.metrics, after[i]?.metrics, 'cluster_master_heartbeats_received_total');
    writes += diffProxy((before[i] as Mark).proxy, (after[i] as Mark).proxy).writes;
  });
  const result: FailoverResult = {
    killed: victim.label,
    agentsOnIt,
    movedMs: distribution(moved),
    movedAfterTimeout: moved.filter((ms) => ms > ctx.heartbeatTimeoutMs).length,
    neverMoved: moves.size - moved.length,
    allBackMs,
    observedS,
    heartbeatsPerSecond: beats / observedS,
    dbWritesPerSecond: writes / observedS,
    survivors: await Promise.all(survivors.map(async (m) => ({ label: m.label, agents: (await connectedAgents(m.master.port)) ?? 0 }))),
  };
  return { result, killedMetrics };
}

export async function runSeveralMasters(ctx: BenchContext, rig: SeveralMastersRig): Promise<SeveralMastersResult> {
  // Let every agent reach its own beat phase, as in the single-master steady window.
  await sleep(ctx.heartbeatIntervalMs + 5_000);
  const start = await markAll(rig.masters);
  const steady = await measureSteady(ctx, rig);
  let failover: FailoverResult | undefined;
  const endMetrics = new Map<RigMaster, MetricSnapshot>();
  if (rig.masters.length > 1) {
    const killed = await killOne(ctx, rig);
    failover = killed.result;
    const victim = rig.masters.find((m) => m.label === killed.result.killed);
    if (victim !== undefined) endMetrics.set(victim, killed.killedMetrics);
  }
  const byMaster: Record<string, Record<string, number>> = {};
  for (const [i, m] of rig.masters.entries()) {
    const end = endMetrics.get(m) ?? (await patientScrape(m.master.port));
    byMaster[m.label] = flagsBetween((start[i] as Mark).metrics, end);
  }
  const total = Object.values(byMaster).reduce((n, causes) => n + Object.values(causes).reduce((a, b) => a + b, 0), 0);
  const inactiveInDbAtEnd = await ctx.workers.countDocuments({ is_active: false, worker_id: { $nin: ctx.realAgentIds } });
  return {
    masters: rig.masters.length,
    agents: ctx.args.agents,
    rampS: rig.rampMs / 1_000,
    ramp: rig.ramp,
    steady,
    failover,
    falseFlags: { total, byMaster },
    inactiveInDbAtEnd,
  };
}

