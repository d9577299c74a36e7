import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { request, type ClientRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { machineLoad, sampleProcess } from './procfs.js';
import { check, type Row } from './report.js';
import { ROOT } from './processes.js';
import { progress, sleep } from './util.js';
import type { BenchContext } from './context.js';

const run = promisify(execFile);

/**
 * What looking at the fleet costs: open fleet pages (`/api/events` streams)
 * and `worker list --watch` processes, measured as CPU of the database and
 * the master (from /proc) over a window with them open against one without.
 * The watch's own CPU is the admin's machine, reported apart.
 */
export interface ViewerCost {
  windowS: number;
  streams: number;
  watches: number;
  /** CPU ms over the window with nobody looking. */
  idle: { dbCpuMs: number; masterCpuMs: number };
  /** CPU ms over the window with the viewers open. */
  viewing: { dbCpuMs: number; masterCpuMs: number; watchCpuMs: number };
  /** (viewing - idle) of database + master, as a share of one core. */
  addedCoreShare: number;
  /** 1-minute load average at the end (the machine is shared: the figures are indicative). */
  loadavg1: number;
}

/** An admin token written by `cluster-master admin token` of the build at `root`. */
export async function issueAdminToken(root: string, env: NodeJS.ProcessEnv, tokenFile: string): Promise<string> {
  await run(process.execPath, [`${root}packages/master/dist/main.js`, 'admin', 'token', '--token-file', tokenFile], { cwd: root, env, timeout: 60_000 });
  return readFileSync(tokenFile, 'utf8').trim();
}

/** Open pages and watches; `close()` ends them all. */
export class Viewers {
  readonly #requests: ClientRequest[] = [];
  readonly #watches: ChildProcess[] = [];
  /** Bytes of events received by all streams (a stream that gets nothing would be a broken stream, not a cheap one). */
  streamBytes = 0;
  /** Bytes the watches printed. */
  watchBytes = 0;

  /** Until every stream and watch has had its first read of the registry (a whole read each: not part of a quiet window). */
  async firstReads(minStreamBytes: number, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (this.streamBytes >= minStreamBytes * this.#requests.length && (this.#watches.length === 0 || this.watchBytes >= minStreamBytes)) return;
      await sleep(200);
    }
  }

  static async open(options: { port: number; adminToken: string; streams: number; watches: number; root: string; env: NodeJS.ProcessEnv }): Promise<Viewers> {
    const viewers = new Viewers();
    for (let i = 0; i < options.streams; i += 1) await viewers.#openStream(options.port, options.adminToken);
    for (let i = 0; i < options.watches; i += 1) {
      const child = spawn(process.execPath, [`${options.root}packages/master/dist/main.js`, 'worker', 'list', '--watch'], {
        cwd: options.root,
        env: options.env,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      child.stdout?.on('data', (chunk: Buffer) => {
        viewers.watchBytes += chunk.length;
      });
      viewers.#watches.push(child);
    }
    return viewers;
  }

  get watchPids(): number[] {
    return this.#watches.map((c) => c.pid ?? -1);
  }

  #openStream(port: number, adminToken: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/events', agent: false, headers: { Authorization: `Bearer ${adminToken}` } }, (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`/api/events answered ${res.statusCode}`));
          return;
        }
        res.on('data', (chunk: Buffer) => {
          this.streamBytes += chunk.length;
        });
        res.on('error', () => undefined);
        resolve();
      });
      req.on('error', (error) => reject(error));
      req.end();
      this.#requests.push(req);
    });
  }

  async close(): Promise<void> {
    for (const req of this.#requests) req.destroy();
    await Promise.all(
      this.#watches.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) resolve();
            else {
              c.once('exit', () => resolve());
              c.kill('SIGINT');
            }
          }),
      ),
    );
  }
}

function cpuMsOf(pid: number | undefined): number {
  return pid === undefined ? 0 : (sampleProcess(pid)?.cpuMs ?? 0);
}

/** CPU ms of each pid over `windowS`. */
async function cpuOver(pids: (number | undefined)[], windowS: number): Promise<number[]> {
  const before = pids.map(cpuMsOf);
  await sleep(windowS * 1_000);
  return pids.map((pid, i) => cpuMsOf(pid) - (before[i] ?? 0));
}

/**
 * One window with nobody looking, then `streams` pages and `watches` watches
 * opened, `settleS` for their first reads, and one window with them open.
 * Returns the figures and the viewers, still open (the caller may keep them
 * open through other measurements, and closes them).
 */
export async function measureViewerCost(options: {
  dbPid: number | undefined;
  masterPid: number;
  port: number;
  adminToken: string;
  streams: number;
  watches: number;
  windowS: number;
  settleS: number;
  /** Workers registered: how much the first read of each viewer brings. */
  workers: number;
  root?: string;
  env: NodeJS.ProcessEnv;
}): Promise<{ cost: ViewerCost; viewers: Viewers }> {
  const [dbIdle = 0, masterIdle = 0] = await cpuOver([options.dbPid, options.masterPid], options.windowS);
  const viewers = await Viewers.open({ ...options, root: options.root ?? ROOT });
  // About a fifth of the fleet's JSON per viewer (the whole fleet comes first), then a few seconds for the reads to end.
  await viewers.firstReads(50 * options.workers, 120_000);
  await sleep(options.settleS * 1_000);
  const watchPids = viewers.watchPids;
  const [dbViewing = 0, masterViewing = 0, ...watchCpu] = await cpuOver([options.dbPid, options.masterPid, ...watchPids], options.windowS);
  const added = dbViewing + masterViewing - (dbIdle + masterIdle);
  return {
    cost: {
      windowS: options.windowS,
      streams: options.streams,
      watches: options.watches,
      idle: { dbCpuMs: dbIdle, masterCpuMs: masterIdle },
      viewing: { dbCpuMs: dbViewing, masterCpuMs: masterViewing, watchCpuMs: watchCpu.reduce((a, b) => a + b, 0) },
      addedCoreShare: added / (options.windowS * 1_000),
      loadavg1: machineLoad().loadavg1,
    },
    viewers,
  };
}

/** The target (docs/DESIGN.md, "Performance limits"): 5 pages and one watch at most this share of a core, database and master together. */
export const VIEWER_COST_TARGET = 0.05;

/** The row of the steady scenario: what the open viewers cost with nothing changing (before the fleet connects). */
export function viewerRows(cost: ViewerCost | undefined): Row[] {
  if (cost === undefined) return [];
  const ticks = (ms: number): string => String(Math.round(ms / 10));
  return [
    {
      scenario: 'steady',
      metric: `${cost.streams} pages + ${cost.watches} --watch open, nothing changing: db + master CPU added (ticks in ${cost.windowS} s: db ${ticks(cost.idle.dbCpuMs)}→${ticks(cost.viewing.dbCpuMs)}, master ${ticks(cost.idle.masterCpuMs)}→${ticks(cost.viewing.masterCpuMs)}; load ${cost.loadavg1.toFixed(1)})`,
      value: `${(cost.addedCoreShare * 100).toFixed(1)} % of a core`,
      target: `≤ ${VIEWER_COST_TARGET * 100} %`,
      verdict: check(cost.addedCoreShare <= VIEWER_COST_TARGET),
    },
  ];
}

/**
 * The steady row's windows: a minute each, because the master re-reads its
 * admission view (the whole registry, about as costly as the feed's read)
 * every 60 s whatever happens; in a 20 s window it falls in one time of three
 * and moves the figure by 5 to 10 % of a core either way.
 */
export const VIEWER_WINDOW_S = 60;

/** Pages and watches of the steady scenario. */
export const BENCH_STREAMS = 5;
export const BENCH_WATCHES = 1;

/**
 * The steady scenario's viewers: an admin token, a window with nobody
 * looking, then 5 page streams and one watch (on the database directly, not
 * through the master's proxy, so the master's own command counts stay its
 * own) and a window with them open. They stay open for the caller to close;
 * `reopen` opens the same again (the steady window, after the ramp).
 */
export async function openBenchViewers(
  ctx: BenchContext,
  directUri: string,
  master: { pid: number; port: number },
): Promise<{ cost: ViewerCost; viewers: Viewers; reopen: () => Promise<Viewers> }> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, MONGODB_URI: directUri, MONGODB_DATABASE: ctx.database };
  const adminToken = await issueAdminToken(ROOT, env, `${ctx.runDir}/admin.token`);
  progress(`viewers: ${VIEWER_WINDOW_S} s with nobody looking, then ${VIEWER_WINDOW_S} s with ${BENCH_STREAMS} page streams and ${BENCH_WATCHES} --watch (${ctx.fleetIds.length} workers, no agent yet)`);
  const opened = await measureViewerCost({ dbPid: ctx.devDbPid, masterPid: master.pid, port: master.port, adminToken, streams: BENCH_STREAMS, watches: BENCH_WATCHES, windowS: VIEWER_WINDOW_S, settleS: 3, workers: ctx.fleetIds.length, env });
  ctx.cleanups.unshift(() => opened.viewers.close());
  progress(`viewers: ${(opened.cost.addedCoreShare * 100).toFixed(1)} % of a core added (db ${Math.round(opened.cost.idle.dbCpuMs / 10)}→${Math.round(opened.cost.viewing.dbCpuMs / 10)} ticks, master ${Math.round(opened.cost.idle.masterCpuMs / 10)}→${Math.round(opened.cost.viewing.masterCpuMs / 10)})`);
  const reopen = async (): Promise<Viewers> => {
    const viewers = await Viewers.open({ port: master.port, adminToken, streams: BENCH_STREAMS, watches: BENCH_WATCHES, root: ROOT, env });
    ctx.cleanups.unshift(() => viewers.close());
    return viewers;
  };
  return { ...opened, reopen };
}
