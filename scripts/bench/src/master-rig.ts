import type { BenchContext } from './context.js';
import { credentials } from './context.js';
import { Fleet } from './fleet-client.js';
import { LagSampler } from './pollers.js';
import { sampleProcess } from './procfs.js';
import { startMaster, type MasterDaemon } from './processes.js';
import { metric, readyz, scrape } from './prom.js';
import { errorText, progress, sleep, waitUntil } from './util.js';
import { WireProxy } from './wire-proxy.js';

/** The master under test, the proxy in front of its database, and the fleet connected to it. */
export interface MasterRig {
  proxy: WireProxy;
  master: MasterDaemon;
  fleet: Fleet;
  lag: LagSampler;
  /** RSS of the master once its view was loaded, before any agent connected. */
  rssIdleBytes: number;
  rampMs: number;
  /** False when the ramp's deadline passed before every agent was admitted. */
  rampComplete: boolean;
  /** Log files of the masters (the first, and the one restarted by the storm). */
  logs: string[];
}

export async function connectedAgents(port: number): Promise<number | undefined> {
  try {
    return metric(await scrape(port, 2_000), 'cluster_master_connected_agents');
  } catch {
    return undefined;
  }
}

export async function waitConnected(port: number, count: number, timeoutMs: number): Promise<void> {
  await waitUntil(`${count} agents connected`, async () => ((await connectedAgents(port)) ?? -1) >= count || undefined, timeoutMs, 500);
}

export async function startMasterBehindProxy(ctx: BenchContext, proxy: WireProxy, port: number, label: string): Promise<MasterDaemon> {
  const logFile = `${ctx.runDir}/${label}.log`;
  const master = await startMaster({
    mongoUri: proxy.uri,
    database: ctx.database,
    port,
    logFile,
    inspect: ctx.args.profile,
  });
  ctx.cleanups.unshift(() => master.kill());
  return master;
}

/**
 * waitConnected, saying every 10 s how far the ramp is and in which states the
 * simulated agents are (connecting, waiting = backing off after a refusal or a
 * failed connection), so a slow ramp shows whether the master or the agents' backoff held it.
 */
async function waitRamp(port: number, fleet: Fleet, count: number, timeoutMs: number): Promise<void> {
  const t0 = performance.now();
  let lastReport = t0;
  await waitUntil(
    `${count} agents connected`,
    async () => {
      const connected = (await connectedAgents(port)) ?? -1;
      if (connected >= count) return true;
      if (performance.now() - lastReport >= 10_000) {
        lastReport = performance.now();
        const { states } = await fleet.stats();
        progress(`ramp: ${connected < 0 ? '? (no scrape answer)' : connected} of ${count} admitted after ${((lastReport - t0) / 1000).toFixed(0)} s; fleet: ${JSON.stringify(states)}`);
      }
      return undefined;
    },
    timeoutMs,
    500,
  );
}

/** `beforeFleet`: run once the master is ready, before any agent connects (the viewers' cost with nothing changing). */
export async function setUpMaster(ctx: BenchContext, sampled: readonly string[], beforeFleet?: (master: MasterDaemon) => Promise<void>): Promise<MasterRig> {
  const { args } = ctx;
  const proxy = new WireProxy(ctx.dbHost, ctx.dbPort);
  await proxy.start();
  ctx.cleanups.unshift(() => proxy.close());
  const master = await startMasterBehindProxy(ctx, proxy, 0, 'master');
  progress(`master pid ${master.pid} on port ${master.port}; waiting for its registry view`);
  await waitUntil('the master to be ready', async () => ((await readyz(master.port)) === 200 ? true : undefined), 60_000, 200);
  await sleep(2_000);
  const rssIdleBytes = sampleProcess(master.pid)?.rssBytes ?? 0;
  await beforeFleet?.(master);
  const lag = new LagSampler(ctx.workers, ctx.idOf);
  const fleet = await Fleet.start({
    url: `ws://127.0.0.1:${master.port}/agent`,
    specs: ctx.specs,
    credentials: credentials(ctx, ctx.fleetIds),
    sampled: [...sampled],
    perProcess: args.perProcess,
    onBeats: (beats) => lag.addBeats(beats),
  });
  ctx.cleanups.unshift(() => fleet.kill());
  progress(`ramping ${args.agents} agents at ${args.rampPerSecond}/s over ${fleet.processes.length} simulator process(es)`);
  const t0 = performance.now();
  const ramp = fleet.ramp(args.rampPerSecond, args.rampInFlight);
  let rampComplete = true;
  try {
    await waitRamp(master.port, fleet, args.agents, (args.agents / args.rampPerSecond) * 3_000 + 90_000);
  } catch (error) {
    // A ramp the machine cannot carry is a figure too: the scenarios run with the agents that are in.
    rampComplete = false;
    progress(`ramp: ${errorText(error)}; going on with the agents admitted so far`);
  }
  const rampMs = performance.now() - t0;
  if (rampComplete) {
    await ramp;
    progress(`all ${args.agents} agents admitted after ${(rampMs / 1000).toFixed(1)} s`);
  }
  return { proxy, master, fleet, lag, rssIdleBytes, rampMs, rampComplete, logs: [master.logFile] };
}
