import { readFile } from 'node:fs/promises';
import { InvalidWorkerBatchError, UsageError, WorkerAlreadyRegisteredError } from '../../errors.js';
import { quote } from '../../printable.js';
import type { CommandContext } from '../context.js';
import { formatTable, workerToJson } from '../format.js';
import { batchFromRanges, batchFromText, describeProblem, type BatchEntry, type BatchResult } from '../worker-batch.js';

/** Where the workers of one `worker register` come from, when it registers many. */
export type BatchSource = { kind: 'file'; path: string } | { kind: 'range'; ids: string; ips: string };

interface BatchArgs {
  worker_id: string | undefined;
  worker_ip: string | undefined;
  from: string | undefined;
  ip: string | undefined;
  'token-file': string | undefined;
}

/** The many-workers forms of `worker register`; undefined for the one-worker form. */
export function batchOf(args: BatchArgs): BatchSource | undefined {
  if (args.from !== undefined) {
    if (args.worker_id !== undefined) throw new UsageError('give either --from FILE or worker ids on the command line, not both');
    return { kind: 'file', path: args.from };
  }
  // A range has a closed bracket group (gpu-[01-64]); a stray bracket is an id, refused as one (INVALID_WORKER_ID).
  const isRange = args.worker_id !== undefined && /\[[^\]]*\]/.test(args.worker_id);
  if (!isRange) {
    if (args.ip !== undefined) throw new UsageError('--ip goes with a worker id range such as gpu-[01-64]; for one worker give its address after its id');
    return undefined;
  }
  if (args['token-file'] !== undefined) throw new UsageError('--token-file writes one token; workers registered by a range enroll instead (cluster-master enroll create)');
  const ips = args.ip ?? args.worker_ip;
  if (ips === undefined) throw new UsageError(`the range ${quote(args.worker_id)} needs its addresses: --ip 10.0.4.[21-84] (as many as workers, paired in order)`);
  if (args.ip !== undefined && args.worker_ip !== undefined) throw new UsageError('give the address range once: with --ip or after the id range');
  return { kind: 'range', ids: args.worker_id!, ips };
}

async function readBatch(ctx: CommandContext, source: BatchSource): Promise<BatchResult> {
  if (source.kind === 'range') return batchFromRanges(source.ids, source.ips);
  let text: string;
  try {
    text = source.path === '-' ? await ctx.readStdin() : await readFile(source.path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new UsageError(`cannot read ${source.path === '-' ? 'standard input' : quote(source.path)} (--from): ${code}`);
  }
  return batchFromText(text);
}

/**
 * Registers every worker of a file or a range, all or none. Problems are
 * found before the database is asked (every bad line at once); ids that
 * exist already are named with their lines; the insert itself is undone when
 * another admin registered one of the ids meanwhile. No credential is issued:
 * such workers get theirs by enrolling (cluster-master enroll create).
 */
export async function registerBatch(ctx: CommandContext, source: BatchSource, json: boolean): Promise<void> {
  const where = source.kind === 'file' ? 'line' : 'position';
  const batch = await readBatch(ctx, source);
  if (!batch.ok) {
    const problems = batch.problems.map((p) => describeProblem(p, where));
    fail(ctx, problems, `nothing registered: ${problems.length} problem${problems.length === 1 ? '' : 's'} in ${describeSource(source)} (listed above)`, true);
  }
  const { registry } = await ctx.services();
  await registry.ensureCollections();
  const entries = batch.entries;
  const existing = await registry.existingWorkerIds(entries.map((e) => e.worker_id));
  if (existing.size > 0) alreadyRegistered(ctx, source, entries.filter((e) => existing.has(e.worker_id)));
  let workers;
  try {
    workers = await registry.registerWorkers(entries);
  } catch (error) {
    if (error instanceof WorkerAlreadyRegisteredError) alreadyRegistered(ctx, source, entries.filter((e) => e.worker_id === error.workerId));
    throw error;
  }
  if (json) {
    ctx.stdout(`${JSON.stringify({ workers: workers.map(workerToJson) }, null, 2)}\n`);
    return;
  }
  ctx.stdout(
    [
      `Registered ${workers.length} worker${workers.length === 1 ? '' : 's'}; no tokens were issued: they wait for enrollment.`,
      '',
      formatTable(['WORKER_ID', 'IP'], workers.map((w) => [w.worker_id, w.worker_ip])),
      '',
      'Next: cluster-master enroll create --workers PATTERN --ttl 24h, and the same agent.env on every machine',
      '(or a token per worker: cluster-master worker token ID).',
      '',
    ].join('\n'),
  );
}

function alreadyRegistered(ctx: CommandContext, source: BatchSource, taken: BatchEntry[]): never {
  const where = source.kind === 'file' ? 'line' : 'position';
  const problems = taken.map((e) => `${where} ${e.line}: worker ${quote(e.worker_id)} is already registered`);
  fail(ctx, problems, `nothing registered: ${taken.length} of the workers ${taken.length === 1 ? 'is' : 'are'} registered already (listed above); take ${taken.length === 1 ? 'it' : 'them'} out of ${describeSource(source)}, or unregister ${taken.length === 1 ? 'it' : 'them'} first`, false);
}

function fail(ctx: CommandContext, problems: string[], summary: string, isUsage: boolean): never {
  for (const p of problems) ctx.stderr(`${p}\n`);
  throw new InvalidWorkerBatchError(summary, problems, isUsage);
}

function describeSource(source: BatchSource): string {
  if (source.kind === 'range') return `${quote(source.ids)} / ${quote(source.ips)}`;
  return source.path === '-' ? 'standard input' : quote(source.path);
}
