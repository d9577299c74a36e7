import type { BenchContext } from './context.js';
import { waitConnected, type MasterRig } from './master-rig.js';
import { InactiveWatcher } from './pollers.js';
import { distribution, progress, sleep, type Distribution } from './util.js';

export interface DetectionResult {
  cleanClose: {
    agents: number;
    spreadMs: number;
    ms: Distribution;
    undetected: number;
    reads: number;
    /** Already `is_active: false` just before the close: flagged while connected (a false flag), so its time says nothing. */
    inactiveBefore: number;
  };
  silent: {
    agents: number;
    inactiveBefore: number;
    /** From the moment heartbeats and pongs stopped. */
    ms: Distribution;
    /** From each agent's last heartbeat sent (what the timeout counts from). */
    sinceLastBeatMs: Distribution;
    undetected: number;
    reads: number;
  };
  restoreS: number;
}

async function isActive(ctx: BenchContext, workerId: string): Promise<boolean> {
  const doc = await ctx.workers.findOne({ _id: ctx.idOf.get(workerId) }, { projection: { is_active: 1 } });
  return doc?.is_active === true;
}

/** Clean closes are spread over this long, so they fall at every phase of the master's flush cycle. */
const CLEAN_SPREAD_MS = 5_000;

/**
 * Detection: agents close cleanly (1000), then others go silent without
 * closing (no heartbeats, no pongs, no reconnects); time until each one's
 * `is_active: false` is visible in the database. The rest of the fleet keeps
 * beating meanwhile. Afterwards the same workers are started again.
 */
export async function runDetection(ctx: BenchContext, rig: MasterRig, cleanIds: string[], silentIds: string[]): Promise<DetectionResult> {
  const { fleet, master } = rig;
  progress(`detection: ${cleanIds.length} clean closes over ${CLEAN_SPREAD_MS / 1000} s`);
  const clean = new InactiveWatcher(ctx.workers, ctx.idOf);
  const cleanRun = clean.run(cleanIds.length, CLEAN_SPREAD_MS + 60_000);
  const spacing = CLEAN_SPREAD_MS / Math.max(1, cleanIds.length);
  let cleanInactiveBefore = 0;
  for (const id of cleanIds) {
    if (!(await isActive(ctx, id))) cleanInactiveBefore += 1;
    const at = await fleet.closeClean([id], 0);
    const t = at.get(id);
    if (t !== undefined) clean.add(id, t);
    await sleep(spacing);
  }
  const cleanMissing = await cleanRun;

  progress(`detection: ${silentIds.length} agents go silent`);
  const silent = new InactiveWatcher(ctx.workers, ctx.idOf, { fastMs: 250, fastForMs: 60_000, slowMs: 250 });
  const silentInactiveBefore = (await Promise.all(silentIds.map((id) => isActive(ctx, id)))).filter((a) => !a).length;
  const silencedAt = await fleet.silence(silentIds);
  const sinceLastBeat = new Map<string, number>();
  // Nothing can be flagged before one timeout after the last beat, which is at most one interval before the silence.
  const quietMs = ctx.heartbeatTimeoutMs - ctx.heartbeatIntervalMs - 1_000;
  for (const [id, [at]] of silencedAt) silent.add(id, at, at + quietMs);
  const silentMissing = await silent.run(silentIds.length, ctx.heartbeatTimeoutMs + 60_000);
  for (const [id, ms] of silent.times) {
    const [at, last] = silencedAt.get(id) ?? [0, undefined];
    if (last !== undefined) sinceLastBeat.set(id, ms + (at - last));
  }

  progress('detection: starting those agents again');
  const t0 = performance.now();
  await fleet.replace([...cleanIds, ...silentIds]);
  await waitConnected(master.port, ctx.args.agents, 90_000);
  const restoreS = (performance.now() - t0) / 1_000;
  return {
    cleanClose: {
      agents: cleanIds.length,
      spreadMs: CLEAN_SPREAD_MS,
      ms: distribution([...clean.times.values()]),
      undetected: cleanMissing.length,
      reads: clean.reads,
      inactiveBefore: cleanInactiveBefore,
    },
    silent: {
      agents: silentIds.length,
      inactiveBefore: silentInactiveBefore,
      ms: distribution([...silent.times.values()]),
      sinceLastBeatMs: distribution([...sinceLastBeat.values()]),
      undetected: silentMissing.length,
      reads: silent.reads,
    },
    restoreS,
  };
}
