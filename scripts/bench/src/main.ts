/**
 * `pnpm bench`: one master, a simulated fleet, and figures next to the
 * product's performance limits (docs/DESIGN.md, "Performance limits").
 * Starts the dev database, the master (`cluster-master serve`, defaults),
 * fleet simulator processes (the agent's own session code) and baselines;
 * prints a table on stdout and writes every figure as JSON.
 * A benchmark, not a test: it always exits 0 when it could measure.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { cpus, totalmem } from 'node:os';
import { MongoClient, type ObjectId } from 'mongodb';
import { DEFAULTS } from '../../../packages/protocol/dist/index.js';
import { parseBenchArgs, USAGE, type BenchArgs } from './args.js';
import type { BenchContext } from './context.js';
import { setUpMaster, type MasterRig } from './master-rig.js';
import { machineLoad } from './procfs.js';
import { ROOT, devDbPid, startDevDb, stopDevDb } from './processes.js';
import { replay, type ReplayResult } from './replay.js';
import { buildRows } from './rows.js';
import { table } from './report.js';
import { runAgentFootprint } from './scenario-agent.js';
import { runBare } from './scenario-bare.js';
import { runDetection } from './scenario-detection.js';
import { runSpecsChange } from './scenario-specs.js';
import { runSteady } from './scenario-steady.js';
import { severalMastersRows } from './rows-several-masters.js';
import { runSeveralMasters, type SeveralMastersResult } from './scenario-several-masters.js';
import { setUpSeveralMasters } from './several-masters-rig.js';
import { runStorm } from './scenario-storm.js';
import { seedWorkers, workerIds } from './seed.js';
import { fleetSourceAddress } from './fleet-address.js';
import { WireProxy, type RecordedCommand } from './wire-proxy.js';
import { runSoak, soakRows, soakTable, type SoakResult } from './scenario-soak.js';
import { openBenchViewers, viewerRows, type ViewerCost, type Viewers } from './viewer-cost.js';
import { errorText, progress } from './util.js';

const DATABASE = 'cluster_db';
const FLEET_SPECS = { total_cpu: 16, total_memory: 62.7, total_storage: 960.2, total_gpu: 0 };
/** A memory upgrade, for the spec-change scenario. */
const CHANGED_SPECS = { ...FLEET_SPECS, total_memory: 125.5 };
/** One spec write command's worth (the registry's DEFAULT_MAX_UPDATES_PER_COMMAND). */
const SPEC_CHANGE_AGENTS = 25;

function gitCommit(): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+uncommitted` : head;
  } catch {
    return undefined;
  }
}

/** Evenly spread, disjoint picks from the fleet: lag sample, clean closes, silent agents. */
function pick(ids: readonly string[], count: number, offset: number, taken: Set<string>): string[] {
  const out: string[] = [];
  const step = Math.max(1, Math.floor(ids.length / Math.max(1, count)));
  for (let k = 0; out.length < count && taken.size < ids.length; k += 1) {
    let i = (offset + k * step) % ids.length;
    while (taken.has(ids[i] ?? '')) i = (i + 1) % ids.length;
    const id = ids[i];
    if (id === undefined) break;
    taken.add(id);
    out.push(id);
  }
  return out;
}

async function rawReplay(ctx: BenchContext, recorded: RecordedCommand[]): Promise<ReplayResult & { atProxy: ReplayResult['byCommand'] }> {
  // Through a proxy too, so that both sides pay the same extra hop.
  const proxy = new WireProxy(ctx.dbHost, ctx.dbPort);
  await proxy.start();
  const client = new MongoClient(proxy.uri);
  try {
    await client.connect();
    const result = await replay(client.db(ctx.database), recorded);
    const atProxy: ReplayResult['byCommand'] = {};
    for (const [name, s] of Object.entries(proxy.snapshot())) if (name in result.byCommand) atProxy[name] = s;
    return { ...result, atProxy };
  } finally {
    await client.close();
    await proxy.close();
  }
}

async function main(args: BenchArgs): Promise<void> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runDir = `${ROOT}.cache/bench/run-${stamp}`;
  const dbState = `${ROOT}.cache/bench/db`;
  mkdirSync(runDir, { recursive: true });
  const out = args.out ?? `${ROOT}bench-results/${stamp}.json`;
  const results: Record<string, unknown> = {};
  const cleanups: (() => Promise<void>)[] = [];
  const interrupt = (): void => {
    progress('interrupted: stopping what was started');
    void (async () => {
      for (const c of cleanups) await c().catch(() => undefined);
      await stopDevDb(dbState).catch(() => undefined);
      process.exit(130);
    })();
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  progress(`starting the dev database (${dbState})`);
  rmSync(dbState, { recursive: true, force: true });
  const uri = await startDevDb(dbState);
  cleanups.push(() => stopDevDb(dbState));
  const url = new URL(uri);
  const client = new MongoClient(uri, { maxPoolSize: 100 });
  await client.connect();
  const db = client.db(DATABASE);
  try {
    const fleetIds = workerIds(args.agents);
    const realAgentIds: [string, string] = ['bench-agent-installed', 'bench-agent-plain'];
    progress(`registering ${args.agents + 2} workers (${args.seed === 'known' ? 'specs known from an earlier connection' : "the contract's initial values"})`);
    // The fleet's agents each from their own loopback address (fleet-address.ts); the real agents from 127.0.0.1.
    const realIds = new Set(realAgentIds);
    const seeded = await seedWorkers(db, [...fleetIds, ...realAgentIds], (id) => (realIds.has(id) ? '127.0.0.1' : fleetSourceAddress(id)), args.seed === 'known' ? FLEET_SPECS : undefined);
    const ctx: BenchContext = {
      args,
      runDir,
      db,
      workers: db.collection('WORKER_REGISTRY'),
      dbHost: url.hostname,
      dbPort: Number(url.port),
      devDbPid: devDbPid(dbState),
      database: DATABASE,
      fleetIds,
      tokenOf: new Map(seeded.map((s) => [s.workerId, s.token])),
      idOf: new Map<string, ObjectId>(seeded.map((s) => [s.workerId, s._id])),
      realAgentIds,
      specs: FLEET_SPECS,
      heartbeatIntervalMs: DEFAULTS.heartbeatIntervalMs,
      heartbeatTimeoutMs: DEFAULTS.heartbeatTimeoutMs,
      results,
      rows: [],
      cleanups,
    };
    const taken = new Set<string>();
    const sampled = pick(fleetIds, Math.min(args.lagSample, args.agents), 0, taken);
    const cleanIds = pick(fleetIds, args.detectionAgents, 1, taken);
    const silentIds = pick(fleetIds, args.detectionAgents, 2, taken);
    const specsIds = pick(fleetIds, Math.min(SPEC_CHANGE_AGENTS, args.agents - taken.size), 3, taken);

    if (args.masters !== undefined) {
      const rig = await setUpSeveralMasters(ctx, args.masters);
      results.severalMasters = await runSeveralMasters(ctx, rig);
      progress('stopping the fleet and the masters');
      await rig.fleet.kill();
      await Promise.all(rig.masters.map((m) => m.master.stop()));
      results.masterLogs = rig.masters.map((m) => m.master.logFile);
    }

    if (args.scenarios.has('soak')) results.soak = await runSoak(ctx);

    if (args.scenarios.has('baseline')) {
      results.bare = await runBare(ctx);
    }

    const needsMaster = ['steady', 'detection', 'storm', 'specs', 'agent'].some((s) => args.scenarios.has(s as never));
    let recorded: RecordedCommand[] = [];
    if (needsMaster) {
      // The steady window runs with 5 pages and one `worker list --watch` open; what they cost with nothing changing is
      // measured first, before any agent connects. They are closed for the ramp (not a steady state) and opened again.
      let reopenViewers: (() => Promise<Viewers>) | undefined;
      const rig: MasterRig = await setUpMaster(ctx, args.scenarios.has('steady') ? sampled : [], async (master) => {
        if (!args.scenarios.has('steady')) return;
        const opened = await openBenchViewers(ctx, uri, master);
        await opened.viewers.close();
        reopenViewers = opened.reopen;
        results.viewers = opened.cost;
      });
      results.ramp = { agents: args.agents, perSecond: args.rampPerSecond, maxInFlight: args.rampInFlight, seconds: rig.rampMs / 1_000, complete: rig.rampComplete, simulators: rig.fleet.processes.length };
      if (args.scenarios.has('steady')) {
        const viewers = await reopenViewers?.();
        const steady = await runSteady(ctx, rig, args.scenarios.has('agent'));
        steady.steady.lagSampledAgents = sampled.length;
        results.steady = steady.steady;
        recorded = steady.recorded;
        if (steady.agent !== undefined) results.agent = steady.agent;
        await viewers?.close();
      } else if (args.scenarios.has('agent')) {
        results.agent = await runAgentFootprint(ctx, rig.master.port);
      }
      if (args.scenarios.has('detection')) results.detection = await runDetection(ctx, rig, cleanIds, silentIds);
      if (args.scenarios.has('storm')) results.storm = await runStorm(ctx, rig);
      if (args.scenarios.has('specs')) results.specsChange = await runSpecsChange(ctx, rig, specsIds, CHANGED_SPECS);
      progress('stopping the fleet and the master');
      await rig.fleet.kill();
      await rig.master.stop();
      await rig.proxy.close();
      results.masterLogs = rig.logs;
    }

    if (args.scenarios.has('baseline') && recorded.length > 0) {
      progress(`raw driver baseline: replaying ${recorded.length} commands the master sent during the steady window`);
      results.raw = await rawReplay(ctx, recorded);
    }
  } finally {
    await client.close();
    for (const c of cleanups) await c().catch((error: unknown) => progress(`cleanup: ${errorText(error)}`));
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }

  const several = results.severalMasters as SeveralMastersResult | undefined;
  const rows =
    several === undefined ? buildRows(args, results) : severalMastersRows(several, DEFAULTS.heartbeatIntervalMs, DEFAULTS.heartbeatTimeoutMs);
  rows.push(...viewerRows(results.viewers as ViewerCost | undefined));
  rows.push(...soakRows(results.soak as SoakResult | undefined));
  if (results.soak !== undefined) process.stdout.write(`\nsoak series:\n${soakTable(results.soak as SoakResult)}\n`);
  const load = machineLoad();
  const report = {
    benchmark: 'cluster worker registry: fleet benchmark against the performance limits of docs/DESIGN.md',
    startedAt: stamp,
    command: `pnpm bench ${process.argv.slice(2).join(' ')}`.trim(),
    commit: gitCommit(),
    machine: { cores: cpus().length, memoryBytes: totalmem(), node: process.version, loadavg1AtEnd: load.loadavg1 },
    database: { kind: 'dev database: FerretDB 1.24 embedded, SQLite backend (scripts/devdb.sh)', pid: devDbPid(dbState) },
    args: { ...args, scenarios: [...args.scenarios] },
    runDir,
    results,
    table: rows,
  };
  // A relative --out is taken from the working directory; its folder is made if missing.
  mkdirSync(dirname(resolve(out)), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\n${table(rows)}\n\nJSON: ${out}\nlogs: ${runDir}\n`);
}

let parsed: BenchArgs | 'help';
try {
  parsed = parseBenchArgs(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`bench: ${errorText(error)}\n${USAGE}\n`);
  process.exit(2);
}
if (parsed === 'help') {
  process.stdout.write(`${USAGE}\n`);
} else {
  await main(parsed).catch((error: unknown) => {
    process.stderr.write(`bench: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}
