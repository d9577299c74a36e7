import type { BenchContext } from './context.js';
import { connectedAgents, startMasterBehindProxy, type MasterRig } from './master-rig.js';
import { InspectorSession, type ProfileSummary } from './profile.js';
import { machineCpuMs, sampleProcess } from './procfs.js';
import { delta, metric, readyz, scrape, type MetricSnapshot } from './prom.js';
import { progress, sleep, waitUntil } from './util.js';
import { diffProxy } from './wire-proxy.js';
import { formatTimeline, stormTimeline, type StormTimeline } from './storm-timeline.js';
import { explainTimeoutFlags, formatTimeoutFlags, type TimeoutFlagReport } from './storm-flags.js';

export interface StormResult {
  agents: number;
  /** SIGKILL to the new master listening. */
  restartMs: number;
  /** SIGKILL to /readyz 200 (registry view loaded). */
  readyMs: number | undefined;
  /** SIGKILL to all N agents admitted again (connected gauge). */
  allActiveMs: number | undefined;
  /** SIGKILL to all N agents welcomed, as the fleet simulators see it (needs no scrape). */
  allWelcomedAtFleetMs: number | undefined;
  /**
   * /metrics scrapes that failed (timeout, refused) while the fleet came back, and the longest time
   * between two that answered: allActiveMs is late by up to that gap when it fell in one.
   */
  scrapeFailures: number;
  longestScrapeGapMs: number;
  /** False when no scrape answered after the storm: the master's counters (flags, refusals) are then unknown. */
  metricsRead: boolean;
  agentsAtEnd: number;
  /** Workers the new master flagged inactive (any cause) while the fleet came back and one timeout after; undefined: /metrics never answered. */
  falseInactiveFlags: number | undefined;
  flaggedByCause: Record<string, number>;
  /** Fleet workers with is_active false in the database before the kill and at the end. */
  inactiveInDbBefore: number;
  inactiveInDbAtEnd: number;
  observedS: number;
  dbWritesPerSecond: number;
  dbReadsPerSecond: number;
  dbByCommand: Record<string, { count: number; totalMs: number }>;
  refusals: Record<string, number>;
  /** Upgrades the new master held instead of refusing, by how the hold ended (taken, expired, gone, shutdown). */
  holds: Record<string, number>;
  /** Worker events the new master wrote to WORKER_EVENTS by the end (its history's own counter). */
  historyEventsWritten: number;
  admissions: number;
  /** CPU the new master used from its start until all agents were back. */
  masterCpuMs: number | undefined;
  /**
   * Over the same window (the kill until all back): CPU of the fleet simulators together, of the dev
   * database, and of the whole machine (all its cores, every process, from /proc/stat): whether the
   * agents waited for the master or for a machine that had no CPU left.
   */
  cpuWhileBackMs?: { fleet: number; devDb: number | undefined; machine: number; wallMs: number };
  masterRssBytes: number | undefined;
  profile?: ProfileSummary;
  /** With --profile: each fleet simulator's CPU profile from the kill until all back. */
  fleetProfiles?: ProfileSummary[];
  /** The agents' connection attempts after the kill, by second: what each got (refused, 503, welcomed, …). */
  timeline?: StormTimeline;
  /** The timeout flags explained (master log beside each agent's events) and the simulators' event-loop delay. */
  timeoutFlags?: TimeoutFlagReport;
}

const CAUSES = ['clean_close', 'timeout', 'sweep'] as const;

/** The last counters after the storm: a master still busy may miss one scrape's timeout, not the run. */
async function scrapeWithRetries(port: number, withinMs: number): Promise<{ snapshot: MetricSnapshot | undefined; failures: number }> {
  const deadline = performance.now() + withinMs;
  let failures = 0;
  while (performance.now() < deadline) {
    try {
      return { snapshot: await scrape(port, 5_000), failures };
    } catch {
      failures += 1;
      await sleep(1_000);
    }
  }
  return { snapshot: undefined, failures };
}
const HOLD_OUTCOMES = ['taken', 'expired', 'gone', 'shutdown'];
const REFUSALS = ['unknown_worker', 'unauthorized', 'forbidden', 'unavailable', 'busy', 'shutting_down', 'bad_path', 'unsupported_version', 'bad_worker_id'];

/**
 * Reconnect storm: SIGKILL the master with N agents connected and start a
 * new one at once on the same port. The agents reconnect on their own
 * (their backoff). Watched until all N are admitted and at least one
 * heartbeat timeout (+5 s) after the restart, since the new master's stale
 * sweep may only run one timeout after it started: a false inactive flag
 * would come then.
 */
export async function runStorm(ctx: BenchContext, rig: MasterRig): Promise<StormResult> {
  const { args } = ctx;
  const fleetInactive = { is_active: false, worker_id: { $nin: ctx.realAgentIds } };
  // Agents restarted by the detection scenario are admitted but maybe not written yet: wait for the registry to show all active.
  const inactiveBefore = await waitUntil(
    'every fleet worker active in the database',
    async () => {
      const n = await ctx.workers.countDocuments(fleetInactive);
      return n === 0 ? 0 : undefined;
    },
    60_000,
    2_000,
  ).catch(async () => ctx.workers.countDocuments(fleetInactive));
  if (inactiveBefore > 0) progress(`storm: note: ${inactiveBefore} fleet workers inactive in the database before the kill`);
  const port = rig.master.port;
  // Those welcomed now are the ones expected back (all of them, unless the ramp did not finish).
  const expected = (await rig.fleet.stats()).states.open ?? 0;
  if (expected < args.agents) progress(`storm: note: ${expected} of ${args.agents} agents connected before the kill; "all admitted" means those`);
  const p0 = rig.proxy.snapshot();
  progress(`storm: SIGKILL master pid ${rig.master.pid} with ${expected} agents connected; restarting on port ${port}`);
  const cpuAt = (): { fleet: number; devDb: number | undefined; machine: number } => ({
    fleet: rig.fleet.pids.reduce((n, pid) => n + (sampleProcess(pid)?.cpuMs ?? 0), 0),
    devDb: ctx.devDbPid === undefined ? undefined : sampleProcess(ctx.devDbPid)?.cpuMs,
    machine: machineCpuMs(),
  });
  // The simulators' event-loop delay is read from here to the end of the storm.
  await rig.fleet.trace([], true);
  if (args.profile) await rig.fleet.startProfile();
  const cpu0 = cpuAt();
  const t0 = performance.now();
  const killedAt = Date.now();
  await rig.master.kill();
  const master = await startMasterBehindProxy(ctx, rig.proxy, port, 'master-restarted');
  rig.master = master;
  rig.logs.push(master.logFile);
  const restartMs = performance.now() - t0;
  let inspector: InspectorSession | undefined;
  if (args.profile && master.inspectorUrl !== undefined) {
    inspector = await InspectorSession.connect(master.inspectorUrl);
    await inspector.startProfile();
  }
  const deadline = 120_000;
  let readyMs: number | undefined;
  let allActiveMs: number | undefined;
  let allWelcomedAtFleetMs: number | undefined;
  // Its own loop: the scrape loop waits for answers (seconds each while the master is busy), the fleet answers at once.
  let watching = true;
  const fleetWatch = (async () => {
    let sawTheKill = false;
    while (watching && allWelcomedAtFleetMs === undefined && performance.now() - t0 < deadline) {
      const open = (await rig.fleet.stats()).states.open ?? 0;
      // Sessions of the killed master read 'open' until their sockets close: count only after the fleet saw it go.
      if (open < expected) sawTheKill = true;
      else if (sawTheKill) allWelcomedAtFleetMs = performance.now() - t0;
      await sleep(250);
    }
  })();
  let scrapeFailures = 0;
  let lastScrapeOkMs = 0;
  let longestScrapeGapMs = 0;
  let last: MetricSnapshot | undefined;
  let cpuAtAll: number | undefined;
  let cpuWhileBackMs: StormResult['cpuWhileBackMs'];
  let p1 = p0;
  let profile: ProfileSummary | undefined;
  let fleetProfiles: ProfileSummary[] | undefined;
  const stopFleetProfile = async (): Promise<void> => {
    if (!args.profile || fleetProfiles !== undefined) return;
    fleetProfiles = await rig.fleet.stopProfile(`${ctx.runDir}/fleet-storm`);
    for (const [i, p] of fleetProfiles.entries()) {
      progress(`storm: fleet simulator ${i + 1} profile (${p.totalMs} ms): ${p.origins.slice(0, 6).map((o) => `${o.origin} ${o.share}%`).join(', ')}`);
      for (const f of p.functions.slice(0, i === 0 ? 15 : 5)) progress(`storm:   ${f.share}% ${f.name} ${f.where}`);
    }
  };
  const minObserveMs = restartMs + ctx.heartbeatTimeoutMs + 5_000;
  while (performance.now() - t0 < deadline) {
    const now = performance.now() - t0;
    if (readyMs === undefined && (await readyz(port)) === 200) readyMs = performance.now() - t0;
    try {
      last = await scrape(port, 2_000);
      const at = performance.now() - t0;
      longestScrapeGapMs = Math.max(longestScrapeGapMs, at - lastScrapeOkMs);
      lastScrapeOkMs = at;
    } catch {
      // Not listening yet, or too busy to answer in time: counted, never fatal (the run goes on).
      scrapeFailures += 1;
    }
    if (allActiveMs === undefined && metric(last, 'cluster_master_connected_agents') >= expected) {
      allActiveMs = performance.now() - t0;
      cpuAtAll = sampleProcess(master.pid)?.cpuMs;
      const cpu1 = cpuAt();
      cpuWhileBackMs = {
        fleet: cpu1.fleet - cpu0.fleet,
        devDb: cpu1.devDb === undefined || cpu0.devDb === undefined ? undefined : cpu1.devDb - cpu0.devDb,
        machine: cpu1.machine - cpu0.machine,
        wallMs: performance.now() - t0,
      };
      progress(`storm: CPU from the kill until all back (${(cpuWhileBackMs.wallMs / 1000).toFixed(1)} s): master ${cpuAtAll ?? '?'} ms, fleet ${cpuWhileBackMs.fleet} ms, dev db ${cpuWhileBackMs.devDb ?? '?'} ms, machine ${cpuWhileBackMs.machine} ms (all cores)`);
      p1 = rig.proxy.snapshot();
      progress(`storm: all ${expected} agents admitted ${(allActiveMs / 1000).toFixed(1)} s after the kill`);
      await stopFleetProfile();
      if (inspector !== undefined) {
        profile = await inspector.stopProfile(`${ctx.runDir}/master-storm.cpuprofile`);
        inspector.close();
        inspector = undefined;
      }
    }
    if (allActiveMs !== undefined && now >= minObserveMs) break;
    await sleep(250);
  }
  if (allActiveMs === undefined) p1 = rig.proxy.snapshot();
  if (inspector !== undefined) {
    profile = await inspector.stopProfile(`${ctx.runDir}/master-storm.cpuprofile`);
    inspector.close();
  }
  await stopFleetProfile();
  const observedS = (performance.now() - t0) / 1_000;
  watching = false;
  await fleetWatch;
  longestScrapeGapMs = Math.max(longestScrapeGapMs, performance.now() - t0 - lastScrapeOkMs);
  const final = await scrapeWithRetries(port, 30_000);
  scrapeFailures += final.failures;
  const metricsRead = final.snapshot !== undefined;
  if (final.snapshot !== undefined) last = final.snapshot;
  else progress(`storm: /metrics did not answer in 30 s after the storm; the master's counters are reported as unknown`);
  if (scrapeFailures > 0) progress(`storm: ${scrapeFailures} /metrics scrapes failed; longest gap between answers ${(longestScrapeGapMs / 1000).toFixed(1)} s`);
  const flaggedByCause: Record<string, number> = {};
  for (const cause of CAUSES) flaggedByCause[cause] = metric(last, 'cluster_master_workers_flagged_inactive_total', { cause });
  const refusals: Record<string, number> = {};
  for (const reason of REFUSALS) {
    const n = metric(last, 'cluster_master_refusals_total', { reason });
    if (n > 0) refusals[reason] = n;
  }
  const holds: Record<string, number> = {};
  for (const outcome of HOLD_OUTCOMES) {
    const n = metric(last, 'cluster_master_upgrade_holds_total', { outcome });
    if (n > 0) holds[outcome] = n;
  }
  const timeline = stormTimeline(await rig.fleet.attempts(killedAt), killedAt);
  for (const line of formatTimeline(timeline)) progress(line);
  progress(`storm: refusals ${JSON.stringify(refusals)}; held upgrades ${JSON.stringify(holds)}`);
  const timeoutFlags = await explainTimeoutFlags(master.logFile, ctx.heartbeatTimeoutMs, (ids) => rig.fleet.trace(ids));
  for (const line of formatTimeoutFlags(timeoutFlags)) progress(line);
  // One scan of the collection (~1 s on the dev database), after the storm.
  const inactiveInDbAtEnd = await ctx.workers.countDocuments(fleetInactive);
  const windowS = (allActiveMs ?? observedS * 1_000) / 1_000;
  const db = diffProxy(p0, p1);
  return {
    agents: expected,
    restartMs,
    readyMs,
    allActiveMs,
    allWelcomedAtFleetMs,
    scrapeFailures,
    longestScrapeGapMs,
    metricsRead,
    agentsAtEnd: (await connectedAgents(port)) ?? 0,
    falseInactiveFlags: metricsRead ? Object.values(flaggedByCause).reduce((a, b) => a + b, 0) : undefined,
    flaggedByCause,
    inactiveInDbBefore: inactiveBefore,
    inactiveInDbAtEnd,
    observedS,
    dbWritesPerSecond: db.writes / windowS,
    dbReadsPerSecond: db.reads / windowS,
    dbByCommand: db.byCommand,
    refusals,
    holds,
    historyEventsWritten: metric(last, 'cluster_master_worker_events_written_total'),
    admissions: delta(undefined, last, 'cluster_master_admissions_total'),
    masterCpuMs: cpuAtAll,
    ...(cpuWhileBackMs === undefined ? {} : { cpuWhileBackMs }),
    masterRssBytes: sampleProcess(master.pid)?.rssBytes,
    ...(profile === undefined ? {} : { profile }),
    ...(fleetProfiles === undefined ? {} : { fleetProfiles }),
    timeline,
    timeoutFlags,
  };
}
