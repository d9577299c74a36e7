/**
 * `node scripts/bench/dist/viewer-cost-main.js [--before ROOT] [--workers N] [--window-s S]`:
 * what one open fleet page and one `worker list --watch` cost the dev database
 * and the master (then 5 pages and one watch together), with N registered workers and no agent (nothing changes), for
 * this tree's build and, side by side in the same run, another build's (ROOT:
 * a checkout with its packages built, e.g. the commit before). Prints a table;
 * the machine is shared, so the figures are indicative (the load average is
 * printed with them).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { devDbPid, ROOT, startDevDb, startMaster, stopDevDb } from './processes.js';
import { readyz } from './prom.js';
import { seedWorkers, workerIds } from './seed.js';
import { progress, sleep, waitUntil } from './util.js';
import { issueAdminToken, measureViewerCost, type ViewerCost } from './viewer-cost.js';

const DATABASE = 'cluster_db';

async function measureBuild(label: string, root: string, uri: string, dbPid: number | undefined, windowS: number, runDir: string, workers: number): Promise<{ label: string; stream: ViewerCost; watch: ViewerCost; both: ViewerCost }> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, MONGODB_URI: uri, MONGODB_DATABASE: DATABASE };
  const adminToken = await issueAdminToken(root, env, `${runDir}/${label}-admin.token`);
  const master = await startMaster({ mongoUri: uri, database: DATABASE, port: 0, logFile: `${runDir}/${label}-master.log`, inspect: false, mainJs: `${root}packages/master/dist/main.js` });
  try {
    await waitUntil('the master to be ready', async () => ((await readyz(master.port)) === 200 ? true : undefined), 120_000, 200);
    await sleep(5_000);
    const results: ViewerCost[] = [];
    for (const [streams, watches] of [[1, 0], [0, 1], [5, 1]] as const) {
      progress(`${label}: ${windowS} s with nobody looking, then ${windowS} s with ${streams} page stream(s) and ${watches} watch(es)`);
      const { cost, viewers } = await measureViewerCost({ dbPid, masterPid: master.pid, port: master.port, adminToken, streams, watches, windowS, settleS: 3, workers, root, env });
      await viewers.close();
      results.push(cost);
      await sleep(2_000);
    }
    return { label, stream: results[0] as ViewerCost, watch: results[1] as ViewerCost, both: results[2] as ViewerCost };
  } finally {
    await master.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { before: { type: 'string' }, workers: { type: 'string' }, 'window-s': { type: 'string' } }, strict: true, args: process.argv.slice(2).filter((a) => a !== '--') });
  const workers = Number(values.workers ?? 10_000);
  const windowS = Number(values['window-s'] ?? 20);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runDir = `${ROOT}.cache/bench/viewer-cost-${stamp}`;
  const dbState = `${ROOT}.cache/bench/viewer-cost-db`;
  mkdirSync(runDir, { recursive: true });
  rmSync(dbState, { recursive: true, force: true });
  const uri = await startDevDb(dbState);
  const client = new MongoClient(uri);
  try {
    await client.connect();
    progress(`registering ${workers} workers`);
    await seedWorkers(client.db(DATABASE), workerIds(workers), '127.0.0.1', { total_cpu: 16, total_memory: 62.7, total_storage: 960.2, total_gpu: 0 });
    const dbPid = devDbPid(dbState);
    const builds: [string, string][] = values.before === undefined ? [] : [['before', values.before.endsWith('/') ? values.before : `${values.before}/`]];
    builds.push(['after', ROOT]);
    const results = [];
    for (const [label, root] of builds) results.push(await measureBuild(label, root, uri, dbPid, windowS, runDir, workers));
    const ms = (n: number): string => String(Math.round(n / 10)).padStart(6);
    console.log(`\n${workers} workers, no agent; CPU ticks (10 ms) over ${windowS} s of the dev database and the master; load average at the end of each window`);
    console.log('build    viewers        db idle  db view  master idle  master view  added (share of a core)  watch process  load');
    for (const r of results) {
      for (const [name, c] of [['1 page stream', r.stream], ['1 --watch', r.watch], ['5 pages+watch', r.both]] as const) {
        console.log(`${r.label.padEnd(8)} ${name.padEnd(14)} ${ms(c.idle.dbCpuMs)}   ${ms(c.viewing.dbCpuMs)}   ${ms(c.idle.masterCpuMs)}       ${ms(c.viewing.masterCpuMs)}       ${(c.addedCoreShare * 100).toFixed(1).padStart(6)} %               ${ms(c.viewing.watchCpuMs)}        ${c.loadavg1.toFixed(2)}`);
      }
    }
  } finally {
    await client.close();
    await stopDevDb(dbState);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
