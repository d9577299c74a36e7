import { TIMING, agentEvents, agentUrl, masterRecords, registerWorkers, startAgent, startMaster, type MasterProc, FAKE_SPECS } from './cluster.js';
import type { Proc } from './processes.js';
import type { ScenarioContext } from './scenario.js';
import { RegistryWatch } from './watch.js';

/**
 * Three `cluster-master serve` processes on one database and agents given all
 * three URLs: the fleet of the several-masters scenarios, and what they ask
 * of it (who serves whom, when agents moved).
 */

const { heartbeatIntervalMs: INTERVAL, flushIntervalMs: FLUSH } = TIMING;
/** The master's derived hand-over grace at these timings (options.ts): one interval + two flushes + 2 s. */
export const GRACE = INTERVAL + 2 * FLUSH + 2_000;
/** The derived stale-sweep interval at these timings (options.ts): max(flush, timeout / 3). */
export const SWEEP_INTERVAL = Math.max(FLUSH, Math.floor(TIMING.heartbeatTimeoutMs / 3));

/** An observation window: time itself is what is being tested. */
export const hold = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface ThreeMasters {
  masters: MasterProc[];
  /** The workers whose agents know all three masters. */
  ids: string[];
  agents: Map<string, Proc>;
  tokens: Map<string, string>;
  /** Watches `ids` and any extra workers given to threeMasters. */
  watch: RegistryWatch;
}

/**
 * Three masters and `count` agents, each given all three URLs; `alsoOnly`
 * adds agents given one master's URL only (by index). Resolves when all are
 * active in the registry.
 */
export async function threeMasters(ctx: ScenarioContext, prefix: string, count: number, alsoOnly: { ids: string[]; master: number } = { ids: [], master: 0 }): Promise<ThreeMasters> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
  const all = [...ids, ...alsoOnly.ids];
  const tokens = await registerWorkers(ctx.target, all);
  const masters = [await startMaster(ctx.procs, ctx.target, 'master A'), await startMaster(ctx.procs, ctx.target, 'master B'), await startMaster(ctx.procs, ctx.target, 'master C')];
  const watch = await RegistryWatch.open(ctx.target.uri, ctx.target.database, all);
  ctx.cleanup(() => watch.close());
  const urls = masters.map((m) => agentUrl(m)).join(',');
  const only = agentUrl(masters[alsoOnly.master] as MasterProc);
  const agents = new Map<string, Proc>();
  for (const id of all) {
    const masterUrl = ids.includes(id) ? urls : only;
    agents.set(id, startAgent(ctx.procs, `agent ${id}`, { masterUrl, workerId: id, token: tokens.get(id) ?? '', specs: FAKE_SPECS }));
  }
  await watch.untilAll(all, true, 15_000 + 1_000 * all.length);
  return { masters, ids, agents, tokens, watch };
}

/** The workers (of `ids`) whose latest admission was by this master. */
export function servedBy(fleet: ThreeMasters, master: MasterProc, ids: readonly string[] = fleet.ids): string[] {
  return ids.filter((id) => {
    const last = (m: MasterProc) => masterRecords(m.proc, 'admitted', id).at(-1)?.atMs ?? -1;
    return last(master) > Math.max(...fleet.masters.filter((m) => m !== master).map(last));
  });
}

/** Of these masters, the one serving the most agents (the agents chose at random). */
export function busiest(fleet: ThreeMasters, among: readonly MasterProc[] = fleet.masters): MasterProc {
  return [...among].sort((a, b) => servedBy(fleet, b).length - servedBy(fleet, a).length)[0] as MasterProc;
}

/** For each worker, ms from `t0` to its agent's next admission (Infinity if none came). */
export function movedAfter(fleet: ThreeMasters, ids: readonly string[], t0: number): number[] {
  return ids.map((id) => (agentEvents(fleet.agents.get(id) as Proc, 'admitted').find((e) => e.atMs > t0)?.atMs ?? Infinity) - t0);
}

export async function allMoved(fleet: ThreeMasters, ids: readonly string[], t0: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (movedAfter(fleet, ids, t0).some((ms) => !Number.isFinite(ms)) && performance.now() < deadline) await hold(50);
}
