import type { BenchContext } from './context.js';
import { credentials } from './context.js';
import { Fleet } from './fleet-client.js';
import { connectedAgents, startMasterBehindProxy } from './master-rig.js';
import type { MasterDaemon } from './processes.js';
import { readyz } from './prom.js';
import { machineLoad } from './procfs.js';
import { watchRamp, type RampOutcome } from './ramp-watch.js';
import { progress, waitUntil } from './util.js';
import { WireProxy } from './wire-proxy.js';

/** One of several masters: the process, the proxy that counts its database commands, its agents' URL. */
export interface RigMaster {
  label: string;
  master: MasterDaemon;
  proxy: WireProxy;
  url: string;
}

export interface SeveralMastersRig {
  masters: RigMaster[];
  fleet: Fleet;
  rampMs: number;
  /** The ramp: agents connected when it ended (all of them, or what was reached by its deadline), and who used the CPU. */
  ramp: RampOutcome;
}

/** Agents connected to all these masters together (a master that does not answer counts 0). */
export async function connectedTotal(masters: readonly RigMaster[]): Promise<number> {
  const counts = await Promise.all(masters.map(async (m) => (await connectedAgents(m.master.port)) ?? 0));
  return counts.reduce((a, b) => a + b, 0);
}

/**
 * `count` masters (`cluster-master serve`, defaults) on the one dev database,
 * each behind a proxy of its own so that its commands are counted apart, and
 * the fleet: every simulated agent is given all the masters' URLs, in the
 * same order, as an operator's configuration would; the agent's own rounds
 * (a random start, the next URL on any loss, the backoff per round) spread it.
 */
export async function setUpSeveralMasters(ctx: BenchContext, count: number): Promise<SeveralMastersRig> {
  const { args } = ctx;
  const masters: RigMaster[] = [];
  for (let i = 1; i <= count; i += 1) {
    const proxy = new WireProxy(ctx.dbHost, ctx.dbPort);
    await proxy.start();
    ctx.cleanups.unshift(() => proxy.close());
    const label = `master-${i}`;
    const master = await startMasterBehindProxy(ctx, proxy, 0, label);
    masters.push({ label, master, proxy, url: `ws://127.0.0.1:${master.port}/agent` });
    progress(`${label} pid ${master.pid} on port ${master.port}`);
  }
  for (const m of masters) {
    await waitUntil(`${m.label} to be ready`, async () => ((await readyz(m.master.port)) === 200 ? true : undefined), 60_000, 200);
  }
  const fleet = await Fleet.start({
    url: masters.map((m) => m.url),
    specs: ctx.specs,
    credentials: credentials(ctx, ctx.fleetIds),
    sampled: [],
    perProcess: args.perProcess,
    onBeats: () => undefined,
  });
  ctx.cleanups.unshift(() => fleet.kill());
  progress(`ramping ${args.agents} agents at ${args.rampPerSecond}/s over ${fleet.processes.length} simulator process(es), ${count} master URL(s) each`);
  const t0 = performance.now();
  const ramp = fleet.ramp(args.rampPerSecond, args.rampInFlight);
  const outcome = await watchRamp({
    target: args.agents,
    deadlineMs: (args.agents / args.rampPerSecond) * 3_000 + 90_000,
    connected: () => connectedTotal(masters),
    pids: { masters: masters.map((m) => m.master.pid), simulators: fleet.pids, devdb: ctx.devDbPid === undefined ? [] : [ctx.devDbPid], coordinator: [process.pid] },
  });
  const rampMs = performance.now() - t0;
  // The simulators' ramp requests return once every agent was started, connected or not.
  await ramp;
  if (outcome.complete) progress(`all ${args.agents} agents admitted after ${(rampMs / 1000).toFixed(1)} s`);
  else progress(`ramp: only ${outcome.reached} of ${args.agents} agents connected after ${(rampMs / 1000).toFixed(1)} s (load ${machineLoad().loadavg1}); measuring with those`);
  return { masters, fleet, rampMs, ramp: outcome };
}
