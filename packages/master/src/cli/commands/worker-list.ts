import type { CommandModule } from 'yargs';
import type { WorkerFilter } from '../../registry/worker.js';
import { nonNegativeNumber, singleString } from '../arguments.js';
import type { CommandContext } from '../context.js';
import { formatWorkerTable, unixSeconds, workerToJson } from '../format.js';
import { WATCH_FULL_READ_MS, watchWorkers } from './worker-watch.js';
import { createEnrolledCredentials } from '../../registry/enrolled-credential.js';
import { createAdmissionVersion } from '../../registry/admission-version.js';
import { createWriteHorizon } from '../../registry/write-horizon.js';

interface Args {
  active: boolean | undefined;
  inactive: boolean | undefined;
  ip: string | undefined;
  gpu: boolean | undefined;
  'min-cpu': number | undefined;
  'min-memory': number | undefined;
  stale: number | undefined;
  'gpu-model': string | undefined;
  'min-gpu-memory': number | undefined;
  arch: string | undefined;
  json: boolean;
  watch: boolean;
  'interval-ms': number;
  'full-read-ms': number;
}

/** The contract's example queries as flags; given flags combine (all must hold). */
export function workerListCommand(ctx: CommandContext): CommandModule<object, Args> {
  return {
    command: 'list',
    describe: 'List registered workers (filters combine)',
    builder: (yargs) =>
      yargs
        .option('active', { type: 'boolean', describe: 'Only workers connected now (is_active: true)' })
        .option('inactive', { type: 'boolean', describe: 'Only workers not connected (is_active: false)' })
        .option('ip', { type: 'string', requiresArg: true, coerce: singleString('ip'), describe: 'Only workers with this worker_ip' })
        .option('gpu', { type: 'boolean', describe: 'Only workers with a GPU (total_gpu > 0)' })
        .option('min-cpu', {
          type: 'string', requiresArg: true,
          coerce: nonNegativeNumber('min-cpu'),
          describe: 'Only workers with at least this many CPU cores',
        })
        .option('min-memory', {
          type: 'string', requiresArg: true,
          coerce: nonNegativeNumber('min-memory'),
          describe: 'Only workers with at least this many GiB of memory',
        })
        .option('stale', {
          type: 'string', requiresArg: true,
          coerce: nonNegativeNumber('stale', { integer: true }),
          describe: 'Only active workers whose last heartbeat is older than this many seconds',
        })
        .option('gpu-model', { type: 'string', requiresArg: true, coerce: singleString('gpu-model'), describe: 'Only workers with a GPU whose model contains this text (case-insensitive; needs an inventory, agents 0.2+)' })
        .option('min-gpu-memory', {
          type: 'string', requiresArg: true,
          coerce: nonNegativeNumber('min-gpu-memory'),
          describe: 'Only workers with a GPU of at least this many GiB of memory (per device; 7% below is allowed, as GPUs report a little under their size: an L4 24GB reports 22.5 GiB)',
        })
        .option('arch', { type: 'string', requiresArg: true, coerce: singleString('arch'), describe: 'Only workers of this architecture (x86_64, aarch64)' })
        .option('json', { type: 'boolean', default: false, describe: 'Print a JSON array (dates in ISO 8601)' })
        .option('watch', { type: 'boolean', default: false, describe: 'Keep watching: the table redrawn in place on a terminal, else (or with --json) one JSON line per change; Ctrl-C stops' })
        .option('interval-ms', { type: 'string', default: '1000', hidden: true, coerce: nonNegativeNumber('interval-ms', { integer: true }) })
        // How often --watch reads the whole registry (connections and flags show within it); see worker-watch.ts.
        .option('full-read-ms', { type: 'string', default: String(WATCH_FULL_READ_MS), hidden: true, coerce: nonNegativeNumber('full-read-ms', { integer: true }) })
        .conflicts('active', 'inactive')
        .conflicts('stale', 'inactive'),
    async handler(args) {
      if (args.watch) {
        const { registry, connection, settings } = await ctx.services();
        const intervalMs = Math.max(100, args['interval-ms']);
        const version = createAdmissionVersion(connection.db, { describeDatabase: settings.hosts });
        const horizon = createWriteHorizon(connection.db, { describeDatabase: settings.hosts });
        await watchWorkers({
          find: (f) => registry.findWorkers(f),
          version: () => version.read(),
          filterAt: (at) => filterOf(args, at),
          now: ctx.now,
          stdout: ctx.stdout,
          stderr: ctx.stderr,
          errorLine: ctx.errorLine,
          tty: ctx.stdoutIsTTY && !args.json,
          signals: ctx.signals,
          intervalMs,
          fullReadMs: Math.max(intervalMs, args['full-read-ms']),
          servingMasters: (sinceMs) => horizon.activitySince(sinceMs, ''),
        });
        return;
      }
      const now = ctx.now();
      const filter = filterOf(args, now);
      const { registry, connection } = await ctx.services();
      const workers = await registry.findWorkers(filter);
      // Which workers got their credential by enrolling (WORKER_CREDENTIALS.enrolled_at): one more read.
      const enrolled = new Map([...(await createEnrolledCredentials(connection.db).enrolled())].map(([id, e]) => [id, e.enrolled_at]));
      if (args.json) {
        const items = workers.map((w) => {
          const at = enrolled.get(w.worker_id);
          return at === undefined ? workerToJson(w) : { ...workerToJson(w), enrolled_at: at.toISOString() };
        });
        ctx.stdout(`${JSON.stringify(items, null, 2)}\n`);
      } else if (workers.length === 0) {
        ctx.stdout(Object.keys(filter).length === 0 ? 'No workers registered.\n' : 'No workers match these filters.\n');
      } else {
        ctx.stdout(`${formatWorkerTable(workers, now, enrolled)}\n`);
      }
    },
  };
}

function filterOf(args: Args, now: Date): WorkerFilter {
  const filter: WorkerFilter = {};
  if (args.active === true) filter.active = true;
  if (args.inactive === true) filter.active = false;
  if (args.ip !== undefined) filter.ip = args.ip;
  if (args.gpu === true) filter.gpu = true;
  if (args['min-cpu'] !== undefined) filter.minCpu = args['min-cpu'];
  if (args['min-memory'] !== undefined) filter.minMemory = args['min-memory'];
  if (args.stale !== undefined) filter.staleBefore = unixSeconds(now) - args.stale;
  if (args['gpu-model'] !== undefined) filter.gpuModel = args['gpu-model'];
  if (args['min-gpu-memory'] !== undefined) filter.minGpuMemoryGib = args['min-gpu-memory'];
  if (args.arch !== undefined) filter.arch = args.arch;
  return filter;
}
