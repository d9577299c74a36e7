import type { BenchContext } from './context.js';
import type { FleetSpecs } from './fleet-protocol.js';
import type { MasterRig } from './master-rig.js';
import { delta, scrape } from './prom.js';
import { heartbeatWriteGaps, writeKind } from './recorded.js';
import { progress, sleep, waitUntil } from './util.js';

export interface SpecsChangeResult {
  agents: number;
  /** The master's own timing of its specs writes (histogram sum), ms, and how many commands. */
  specsWriteMs: number;
  specsWrites: number;
  /** Longest time between two heartbeat writes while it happened, ms (normally one flush cycle). */
  heartbeatStallMs: number | undefined;
  /** Flagged inactive by timeout or sweep meanwhile: workers that were alive all along. */
  falseInactiveFlags: number;
  /** Spec writes per second of the master, from this sample: how long a fresh fleet's first connection takes to write. */
  specsEntriesPerSecond: number | undefined;
  observedS: number;
}

/**
 * Spec change: `count` agents reconnect reporting other specs (a memory
 * upgrade, say), so the master writes `count` spec updates: what happens to
 * every worker's heartbeat writes meanwhile, and how fast specs are written
 * (a fresh fleet's first connection writes N of them). Run last: it may
 * leave the registry disturbed.
 */
export async function runSpecsChange(ctx: BenchContext, rig: MasterRig, ids: string[], specs: FleetSpecs): Promise<SpecsChangeResult> {
  const { master, proxy, fleet } = rig;
  progress(`spec change: ${ids.length} agents reconnect with other specs`);
  const m0 = await scrape(master.port);
  proxy.startRecording();
  const t0 = performance.now();
  await fleet.replace(ids, specs);
  const specsCount = (m: Awaited<ReturnType<typeof scrape>>): number => delta(m0, m, 'cluster_master_db_write_duration_seconds_count', { op: 'specs' });
  const heartbeatCount = (m: Awaited<ReturnType<typeof scrape>>): number =>
    delta(m0, m, 'cluster_master_db_write_duration_seconds_count', { op: 'heartbeat' });
  // Done when the spec writes happened and a heartbeat write completed after them (the cycle is over).
  let afterSpecs: number | undefined;
  await waitUntil(
    'the spec writes',
    async () => {
      const m = await scrape(master.port);
      if (specsCount(m) === 0) return undefined;
      afterSpecs ??= heartbeatCount(m);
      return heartbeatCount(m) > afterSpecs ? true : undefined;
    },
    15 * 60_000,
    500,
  );
  await sleep(ctx.heartbeatTimeoutMs);
  const m1 = await scrape(master.port);
  const recorded = proxy.stopRecording();
  const observedS = (performance.now() - t0) / 1_000;
  const gaps = heartbeatWriteGaps(recorded);
  const specsWriteMs = delta(m0, m1, 'cluster_master_db_write_duration_seconds_sum', { op: 'specs' }) * 1_000;
  const specsCommands = recorded.filter((r) => writeKind(r) === 'specs');
  return {
    agents: ids.length,
    specsWriteMs,
    specsWrites: specsCommands.length,
    heartbeatStallMs: gaps.length === 0 ? undefined : Math.max(...gaps),
    falseInactiveFlags:
      delta(m0, m1, 'cluster_master_workers_flagged_inactive_total', { cause: 'sweep' }) +
      delta(m0, m1, 'cluster_master_workers_flagged_inactive_total', { cause: 'timeout' }),
    specsEntriesPerSecond: specsWriteMs > 0 ? ids.length / (specsWriteMs / 1_000) : undefined,
    observedS,
  };
}
