import type { BenchContext } from './context.js';
import { connectedAgents, type MasterRig } from './master-rig.js';
import { InspectorSession, type ProfileSummary } from './profile.js';
import { cpuBetween, ProcWatcher } from './procfs.js';
import { delta, metric, scrape } from './prom.js';
import { runAgentFootprint, type AgentResult } from './scenario-agent.js';
import { distribution, median, progress, sleep, type Distribution } from './util.js';
import { heartbeatIds, heartbeatWriteGaps } from './recorded.js';
import { diffProxy, type RecordedCommand } from './wire-proxy.js';

export interface SteadyResult {
  windowS: number;
  agentsMin: number;
  agentsEnd: number;
  heartbeatsSentPerSecond: number;
  heartbeatsReceivedPerSecond: number;
  /** Worker ids in heartbeat updateMany commands, per second (what reached the database). */
  heartbeatIdsWrittenPerSecond: number;
  heartbeatWrites: number;
  /** Time between the starts of consecutive heartbeat writes (the writer's cycle), ms. */
  heartbeatWriteGapMs: Distribution;
  /** Mean ids per heartbeat write. */
  idsPerHeartbeatWrite: number;
  dbWritesPerSecond: number;
  dbReadsPerSecond: number;
  dbOtherPerSecond: number;
  dbByCommand: Record<string, { count: number; totalMs: number }>;
  /** Worker events written in the window (the history's counter). */
  historyEventsWritten: number;
  /** The master's own timing of its writes (histogram sums), by op. */
  masterWriteMs: Record<string, { count: number; totalMs: number }>;
  cpuMs: number;
  cpuCoreShare: number;
  cpuUsPerHeartbeat: number;
  /** Median over 10 s sub-windows (SUB_WINDOW_MS). */
  cpuUsPerHeartbeatMedian: number | undefined;
  cpuUsPerHeartbeatWindows: number[];
  rssMedianBytes: number | undefined;
  rssMaxBytes: number;
  rssIdleBytes: number;
  bytesPerAgent: number | undefined;
  totalBytesPerAgent: number | undefined;
  lagMs: Distribution;
  lagUnresolved: number;
  lagSampledAgents: number;
  samplerReads: number;
  fleetRssBytes: number;
  rampS: number;
  /** Spec writes of the master from its start to the window (first connections; none with --seed known). */
  specsWritesBeforeWindow: { count: number; totalMs: number };
  /** Workers this master flagged inactive during the window, by cause; all fleet agents stayed connected and beating. */
  flaggedInactive: Record<string, number>;
  profile?: ProfileSummary;
}

const OPS = ['heartbeat', 'specs', 'inactive'] as const;
export const SUB_WINDOW_MS = 10_000;

/**
 * Steady state: N agents beating at the default interval for --duration-s.
 * Runs the real agent's footprint in the same window when that scenario is on.
 */
export async function runSteady(
  ctx: BenchContext,
  rig: MasterRig,
  withAgent: boolean,
): Promise<{ steady: SteadyResult; recorded: RecordedCommand[]; agent: AgentResult | undefined }> {
  const { args } = ctx;
  const { master, proxy, fleet, lag } = rig;
  // Let the ramp's spec writes drain and every agent reach its own beat phase.
  await sleep(ctx.heartbeatIntervalMs + 5_000);
  progress(`steady state: measuring for ${args.durationS} s${withAgent ? ' (real agent running alongside)' : ''}`);
  let inspector: InspectorSession | undefined;
  if (args.profile && master.inspectorUrl !== undefined) {
    inspector = await InspectorSession.connect(master.inspectorUrl);
    await inspector.startProfile();
  }
  const m0 = await scrape(master.port);
  const p0 = proxy.snapshot();
  const f0 = await fleet.stats();
  const watcher = new ProcWatcher(master.pid, 2_000);
  const s0 = watcher.samples[0];
  proxy.startRecording();
  lag.start();
  const agentRun = withAgent ? runAgentFootprint(ctx, master.port) : Promise.resolve(undefined);
  let agentsMin = Number.POSITIVE_INFINITY;
  const end = performance.now() + args.durationS * 1_000;
  // CPU per heartbeat is also taken per sub-window: its median resists a burst of other work on the machine.
  const perWindowUs: number[] = [];
  let prev = { proc: s0, metrics: m0 };
  while (performance.now() < end) {
    await sleep(Math.min(SUB_WINDOW_MS, end - performance.now()));
    const proc = watcher.take();
    const metrics = await scrape(master.port);
    agentsMin = Math.min(agentsMin, metric(metrics, 'cluster_master_connected_agents'));
    const beats = delta(prev.metrics, metrics, 'cluster_master_heartbeats_received_total');
    if (proc !== undefined && prev.proc !== undefined && beats > 0) perWindowUs.push((cpuBetween(prev.proc, proc).cpuMs * 1_000) / beats);
    prev = { proc, metrics };
  }
  const s1 = watcher.stop();
  const recorded = proxy.stopRecording();
  const p1 = proxy.snapshot();
  const m1 = await scrape(master.port);
  const f1 = await fleet.stats();
  const profile = inspector === undefined ? undefined : await inspector.stopProfile(`${ctx.runDir}/master-steady.cpuprofile`);
  inspector?.close();
  progress('steady state: waiting for the sampled heartbeats to reach the database');
  const unresolved = await lag.finish(30_000);
  const agent = await agentRun;
  if (s0 === undefined || s1 === undefined) throw new Error('the master vanished');

  const cpu = cpuBetween(s0, s1);
  const windowS = cpu.wallMs / 1_000;
  const db = diffProxy(p0, p1);
  const received = delta(m0, m1, 'cluster_master_heartbeats_received_total');
  const heartbeatWrites = recorded.filter((r) => heartbeatIds(r) > 0);
  const idsWritten = heartbeatWrites.reduce((n, r) => n + heartbeatIds(r), 0);
  const masterWriteMs: Record<string, { count: number; totalMs: number }> = {};
  for (const op of OPS) {
    masterWriteMs[op] = {
      count: delta(m0, m1, 'cluster_master_db_write_duration_seconds_count', { op }),
      totalMs: delta(m0, m1, 'cluster_master_db_write_duration_seconds_sum', { op }) * 1_000,
    };
  }
  masterWriteMs.sweep = {
    count: delta(m0, m1, 'cluster_master_sweep_duration_seconds_count'),
    totalMs: delta(m0, m1, 'cluster_master_sweep_duration_seconds_sum') * 1_000,
  };
  const rssMedian = median(watcher.samples.map((s) => s.rssBytes));
  const agentsEnd = (await connectedAgents(master.port)) ?? 0;
  const steady: SteadyResult = {
    windowS,
    agentsMin,
    agentsEnd,
    heartbeatsSentPerSecond: (f1.heartbeatsSent - f0.heartbeatsSent) / windowS,
    heartbeatsReceivedPerSecond: received / windowS,
    heartbeatIdsWrittenPerSecond: idsWritten / windowS,
    heartbeatWrites: heartbeatWrites.length,
    heartbeatWriteGapMs: distribution(heartbeatWriteGaps(recorded)),
    idsPerHeartbeatWrite: heartbeatWrites.length > 0 ? idsWritten / heartbeatWrites.length : 0,
    dbWritesPerSecond: db.writes / windowS,
    dbReadsPerSecond: db.reads / windowS,
    dbOtherPerSecond: db.other / windowS,
    dbByCommand: db.byCommand,
    historyEventsWritten: delta(m0, m1, 'cluster_master_worker_events_written_total'),
    masterWriteMs,
    cpuMs: cpu.cpuMs,
    cpuCoreShare: cpu.coreShare,
    cpuUsPerHeartbeat: received > 0 ? (cpu.cpuMs * 1_000) / received : Number.NaN,
    cpuUsPerHeartbeatMedian: median(perWindowUs),
    cpuUsPerHeartbeatWindows: perWindowUs,
    rssMedianBytes: rssMedian,
    rssMaxBytes: Math.max(...watcher.samples.map((s) => s.rssBytes)),
    rssIdleBytes: rig.rssIdleBytes,
    bytesPerAgent: rssMedian === undefined ? undefined : (rssMedian - rig.rssIdleBytes) / Math.max(1, agentsEnd),
    totalBytesPerAgent: rssMedian === undefined ? undefined : rssMedian / Math.max(1, agentsEnd),
    lagMs: distribution(lag.lags),
    lagUnresolved: unresolved,
    lagSampledAgents: 0,
    samplerReads: lag.reads,
    fleetRssBytes: f1.rssBytes,
    rampS: rig.rampMs / 1_000,
    specsWritesBeforeWindow: {
      count: metric(m0, 'cluster_master_db_write_duration_seconds_count', { op: 'specs' }),
      totalMs: metric(m0, 'cluster_master_db_write_duration_seconds_sum', { op: 'specs' }) * 1_000,
    },
    flaggedInactive: Object.fromEntries(
      ['sweep', 'timeout', 'clean_close'].map((cause) => [cause, delta(m0, m1, 'cluster_master_workers_flagged_inactive_total', { cause })]),
    ),
    ...(profile === undefined ? {} : { profile }),
  };
  return { steady, recorded, agent };
}
