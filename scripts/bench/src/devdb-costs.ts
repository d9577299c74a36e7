import { MongoClient, type Db } from 'mongodb';
import { createAdmissionVersion, createWorkerRegistry } from '../../../packages/master/dist/index.js';
import { seedWorkers, workerIds } from './seed.js';
import { median, round } from './util.js';

/**
 * What each database command the master sends costs on one or more servers,
 * side by side: `node scripts/bench/dist/devdb-costs.js [--workers N]
 * [--rounds R] LABEL=URI ...`. Each server gets the same N seeded workers in a
 * fresh database; then, round after round, every operation runs once on each
 * server in turn (so load on this machine hits all of them alike), and the
 * median per operation is printed. Used to tell what the dev database costs
 * from what the master asks of it (e.g. patched against unpatched FerretDB).
 */
interface Target {
  label: string;
  client: MongoClient;
  db: Db;
}

interface Operation {
  name: string;
  run(db: Db): Promise<unknown>;
}

function parseArgs(argv: string[]): { workers: number; rounds: number; targets: { label: string; uri: string }[] } {
  let workers = 10_000;
  let rounds = 5;
  const targets: { label: string; uri: string }[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--workers') workers = Number(argv[++i]);
    else if (arg === '--rounds') rounds = Number(argv[++i]);
    else if (/^[\w.-]+=mongodb:\/\//.test(arg)) {
      const at = arg.indexOf('=');
      targets.push({ label: arg.slice(0, at), uri: arg.slice(at + 1) });
    } else throw new Error(`unexpected argument ${arg}; usage: devdb-costs [--workers N] [--rounds R] LABEL=mongodb://... ...`);
  }
  if (!Number.isInteger(workers) || workers < 100) throw new Error('--workers must be an integer >= 100');
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  if (targets.length === 0) throw new Error('name at least one server: LABEL=mongodb://HOST:PORT/');
  return { workers, rounds, targets };
}

async function main(): Promise<void> {
  const { workers, rounds, targets: given } = parseArgs(process.argv.slice(2));
  const ids = workerIds(workers);
  const targets: Target[] = [];
  for (const { label, uri } of given) {
    const client = new MongoClient(uri, { maxPoolSize: 4 });
    await client.connect();
    const db = client.db(`devdb_costs_${Date.now().toString(36)}`);
    process.stderr.write(`seeding ${workers} workers on ${label}...\n`);
    await seedWorkers(db, ids, '127.0.0.1', { total_cpu: 8, total_memory: 31.2, total_storage: 500.1, total_gpu: 0 });
    await createAdmissionVersion(db).bump();
    targets.push({ label, client, db });
  }

  // A new last_heartbeat at every call: FerretDB skips documents a write leaves unchanged.
  let beats = 0;
  const beat = () => Math.floor(Date.now() / 1000) + ++beats;
  // Goodbyes as the master sends them: each worker's last heartbeat from this master, spread over the 5 s of a beat.
  const lastWritten = new Map(ids.slice(-100).map((id, i) => [id, Math.floor(Date.now() / 1000) + 10_000 + (i % 5)]));
  const operations: Operation[] = [
    { name: 'admission view (find all, projection)', run: (db) => createWorkerRegistry(db).listAdmissionView() },
    { name: 'admission version (find by _id)', run: (db) => createAdmissionVersion(db).read() },
    { name: `heartbeats: updateMany $in ${Math.min(2_000, workers)} ids`, run: (db) => createWorkerRegistry(db).recordHeartbeats(ids.slice(0, 2_000), beat(), new Date()) },
    { name: `heartbeats: updateMany $in ${workers} ids`, run: (db) => createWorkerRegistry(db).recordHeartbeats(ids, beat(), new Date()) },
    { name: 'goodbyes: markInactive $in 100 ids', run: (db) => createWorkerRegistry(db).markInactive(ids.slice(-100), new Date()) },
    {
      name: 'goodbyes: markInactive 100 ids, 5 last written seconds ($or)',
      run: (db) => createWorkerRegistry(db).markInactive(ids.slice(-100), new Date(), lastWritten),
    },
    { name: 'stale sweep (none stale)', run: (db) => createWorkerRegistry(db).sweepStale(0, new Date()) },
    { name: 'existingWorkerIds $in 100 ids', run: (db) => createWorkerRegistry(db).existingWorkerIds(ids.slice(0, 100)) },
  ];

  const times = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    process.stderr.write(`round ${r + 1}/${rounds}\n`);
    for (const op of operations) {
      for (const t of targets) {
        const started = performance.now();
        await op.run(t.db);
        const key = `${op.name}\u0000${t.label}`;
        times.set(key, [...(times.get(key) ?? []), performance.now() - started]);
      }
    }
  }

  const first = targets[0]?.label ?? '';
  const header = ['operation', ...targets.map((t) => `${t.label} ms`), ...targets.slice(1).map((t) => `${t.label}/${first}`)];
  const rows = operations.map((op) => {
    const medians = targets.map((t) => median(times.get(`${op.name}\u0000${t.label}`) ?? []) ?? Number.NaN);
    const base = medians[0] ?? Number.NaN;
    return [op.name, ...medians.map((m) => String(round(m, 0))), ...medians.slice(1).map((m) => `${round(m / base, 2)}×`)];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log(`medians of ${rounds} rounds, ${workers} workers, servers run in turn within each round`);
  console.log(line(header));
  for (const row of rows) console.log(line(row));

  for (const t of targets) {
    await t.db.dropDatabase();
    await t.client.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`devdb-costs: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
