/**
 * `node scripts/bench/dist/view-load-main.js [--workers N] [--gpus G] [--rounds R]`:
 * what loading the admission view costs a starting master on the dev
 * database, with N registered workers whose documents hold an inventory of G
 * GPUs (0: the host part only; the benchmark's fleet reports none at all):
 * the full read (every worker and every credential) against the stored view
 * (ADMISSION_SNAPSHOT), side by side in each round. Wall time, the dev
 * database's CPU and this process's, and the bytes of the replies. The machine
 * is shared, so the figures are indicative (the load average is printed).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { BSON, MongoClient, type Db } from 'mongodb';
import { COLLECTIONS, createAdmissionVersion, createCredentialStore, createMasterLogger, createWorkerRegistry } from '../../../packages/master/dist/index.js';
import { createAdmissionSnapshotStore } from '../../../packages/master/dist/registry/admission-snapshot.js';
import { AdmissionView } from '../../../packages/master/dist/server/admission/view.js';
import { systemClock } from '../../../packages/master/dist/server/clock.js';
import { DbHealth } from '../../../packages/master/dist/server/db-health.js';
import { devDbPid, ROOT, startDevDb, stopDevDb } from './processes.js';
import { sampleProcess } from './procfs.js';
import { seedWorkers, workerIds } from './seed.js';
import { median, progress, round } from './util.js';

const DATABASE = 'cluster_db';

/** An inventory as a GPU server's agent reports it (protocol version 2), G GPUs. */
function inventory(gpus: number): Record<string, unknown> {
  return {
    gpus: Array.from({ length: gpus }, (_, i) => ({
      vendor: 'NVIDIA', model: 'NVIDIA H100 80GB HBM3', memory_mib: 81_559, uuid: `GPU-${crypto.randomUUID()}`,
      pci_bus_id: `0000:${(0x18 + i).toString(16)}:00.0`, driver_version: '570.124.06', cuda_driver_version: '12.8',
      compute_capability: '9.0', mig_mode: 'disabled', mig_devices: null,
    })),
    host: {
      cpu_model: 'Intel(R) Xeon(R) Platinum 8480+', arch: 'x86_64', sockets: 2, physical_cores: 112, threads: 224,
      os_name: 'Ubuntu', os_version: '24.04.1 LTS (Noble Numbat)', kernel: '6.8.0-51-generic', agent_version: '0.9.0',
    },
    digest: 'a'.repeat(64),
    reported_at: new Date(),
  };
}

async function addInventories(db: Db, ids: readonly string[], gpus: number): Promise<void> {
  const workers = db.collection(COLLECTIONS.workers);
  // 50 statements a command: FerretDB's pool (docs/DESIGN.md, "Dev database").
  for (let start = 0; start < ids.length; start += 50) {
    const ops = ids.slice(start, start + 50).map((id) => ({ updateOne: { filter: { worker_id: id }, update: { $set: { hardware: inventory(gpus) } } } }));
    await workers.bulkWrite(ops, { ordered: false });
  }
}

interface Cost {
  ms: number;
  dbCpuMs: number;
  ownCpuMs: number;
  replyBytes: number;
  fromSnapshot: boolean;
}

async function measure(client: MongoClient, db: Db, dbPid: number | undefined, withSnapshot: boolean): Promise<Cost> {
  const logger = createMasterLogger({ level: 'warn' });
  const view = new AdmissionView({
    registry: createWorkerRegistry(db),
    credentials: createCredentialStore(db),
    clock: systemClock,
    health: new DbHealth(logger, systemClock),
    logger,
    missRefreshMinIntervalMs: 0,
    version: createAdmissionVersion(db),
    countCheckMs: 60_000,
    fullRefreshMs: 600_000,
    snapshot: withSnapshot ? createAdmissionSnapshotStore(db) : undefined,
  });
  let replyBytes = 0;
  const onReply = (event: { reply: unknown }): void => {
    replyBytes += BSON.calculateObjectSize(event.reply as BSON.Document);
  };
  client.on('commandSucceeded', onReply);
  const db0 = dbPid === undefined ? undefined : sampleProcess(dbPid);
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  if (!(await view.refresh())) throw new Error('the view did not load');
  const ms = performance.now() - t0;
  const own = process.cpuUsage(own0);
  const db1 = dbPid === undefined ? undefined : sampleProcess(dbPid);
  client.off('commandSucceeded', onReply);
  await view.snapshotWritten();
  view.close();
  return { ms, dbCpuMs: db0 === undefined || db1 === undefined ? Number.NaN : db1.cpuMs - db0.cpuMs, ownCpuMs: (own.user + own.system) / 1000, replyBytes, fromSnapshot: view.fromSnapshot };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { workers: { type: 'string' }, gpus: { type: 'string' }, rounds: { type: 'string' } }, strict: true, args: process.argv.slice(2).filter((a) => a !== '--') });
  const workers = Number(values.workers ?? 19_000);
  const gpus = Number(values.gpus ?? 0);
  const rounds = Number(values.rounds ?? 3);
  const dbState = `${ROOT}.cache/bench/view-load-db`;
  mkdirSync(`${ROOT}.cache/bench`, { recursive: true });
  rmSync(dbState, { recursive: true, force: true });
  const uri = await startDevDb(dbState);
  const client = new MongoClient(uri, { monitorCommands: true });
  try {
    await client.connect();
    const db = client.db(DATABASE);
    const ids = workerIds(workers);
    progress(`registering ${workers} workers, inventories of ${gpus} GPU(s)`);
    await seedWorkers(db, ids, '127.0.0.1', { total_cpu: 224, total_memory: 2015.6, total_storage: 7680.0, total_gpu: gpus });
    await addInventories(db, ids, gpus);
    const dbPid = devDbPid(dbState);
    const costs = { full: [] as Cost[], stored: [] as Cost[] };
    for (let r = 0; r < rounds; r++) {
      progress(`round ${r + 1}/${rounds}`);
      costs.full.push(await measure(client, db, dbPid, false));
      // The first stored read finds none yet: a full read that stores it (not counted), then the stored one.
      if (r === 0) await measure(client, db, dbPid, true);
      costs.stored.push(await measure(client, db, dbPid, true));
    }
    if (costs.stored.some((c) => !c.fromSnapshot)) throw new Error('a stored-view load read the registry');
    const line = (label: string, list: Cost[]): string => {
      const m = (pick: (c: Cost) => number): string => String(round(median(list.map(pick)), 0)).padStart(11);
      return `${label.padEnd(34)}${m((c) => c.ms)}${m((c) => c.dbCpuMs)}${m((c) => c.ownCpuMs)}${m((c) => c.replyBytes / 1024)}`;
    };
    console.log(`\n${workers} workers, inventories of ${gpus} GPU(s); medians of ${rounds} rounds; load average ${loadavg()[0]?.toFixed(2)} (shared machine: indicative)`);
    console.log(`${'admission view load'.padEnd(34)}${'ms'.padStart(11)}${'db CPU ms'.padStart(11)}${'own CPU'.padStart(11)}${'reply KiB'.padStart(11)}`);
    console.log(line('full read (workers + credentials)', costs.full));
    console.log(line('stored view (ADMISSION_SNAPSHOT)', costs.stored));
  } finally {
    await client.close();
    await stopDevDb(dbState);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
