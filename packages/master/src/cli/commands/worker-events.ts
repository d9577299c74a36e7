import type { CommandModule } from 'yargs';
import { DatabaseUnavailableError, UsageError } from '../../errors.js';
import { createWorkerEventStore, type EventQuery, type WorkerEventStore } from '../../history/event-store.js';
import { EventFilterError, parseKinds, parseSince } from '../../history/event-filter.js';
import { workerEventToJson, type WorkerEvent } from '../../history/worker-event.js';
import { describeHosts, guard } from '../../registry/driver-errors.js';
import { assertWorkerId } from '../../registry/validate.js';
import { nonNegativeNumber, wholeNumberBetween } from '../arguments.js';
import type { CommandContext } from '../context.js';
import { eventRow, formatEventTable } from '../event-format.js';
import type { ShutdownSignals } from '../serve-command.js';

interface Args {
  worker_id: string | undefined;
  since: string | undefined;
  kind: string[] | undefined;
  limit: number;
  follow: boolean;
  json: boolean;
  'interval-ms': number;
}

/**
 * How far back each --follow read looks again: a master that kept events
 * through an outage writes them later with their own (older) times, and a
 * cursor on the newest time alone would skip them.
 */
const FOLLOW_OVERLAP_MS = 60_000;

/** The most events one read returns (the CLI reads the database itself; the API's cap is smaller). */
const MAX_EVENTS_PER_READ = 10_000;

export function workerEventsCommand(ctx: CommandContext): CommandModule<object, Args> {
  return {
    command: 'events [worker_id]',
    describe: "Show workers' history (registered, admitted, disconnected, flagged inactive …), oldest first",
    builder: (yargs) =>
      yargs
        .positional('worker_id', { type: 'string', describe: 'Only this worker (default: all)' })
        .option('since', { type: 'string', requiresArg: true, describe: 'Only events since this long ago (90s, 30m, 2h, 7d) or this ISO 8601 time' })
        .option('kind', { type: 'string', array: true, requiresArg: true, describe: 'Only events of these kinds (comma-separated or repeated)' })
        .option('limit', { type: 'string', default: '100', coerce: wholeNumberBetween('limit', 1, MAX_EVENTS_PER_READ), describe: `The newest this many events, 1 to ${MAX_EVENTS_PER_READ} (--follow: before following)` })
        .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'Keep printing new events as they are written; Ctrl-C stops' })
        .option('json', { type: 'boolean', default: false, describe: 'One JSON object per line (the default when stdout is not a terminal)' })
        .option('interval-ms', { type: 'string', default: '1000', hidden: true, coerce: nonNegativeNumber('interval-ms', { integer: true }) }),
    async handler(args) {
      if (args.worker_id !== undefined) assertWorkerId(args.worker_id);
      let query: EventQuery;
      try {
        query = {
          workerId: args.worker_id,
          since: args.since === undefined ? undefined : parseSince(args.since, ctx.now().getTime()),
          kinds: args.kind === undefined ? undefined : parseKinds(args.kind),
          limit: args.limit,
        };
      } catch (error) {
        if (error instanceof EventFilterError) throw new UsageError(error.message);
        throw error;
      }
      const { connection } = await ctx.services();
      const events = createWorkerEventStore(connection.db);
      const where = describeHosts(connection.db);
      // Connectivity failures become DatabaseUnavailableError, as for every other command.
      const store: Pick<WorkerEventStore, 'find'> = { find: (q) => guard(where, () => events.find(q)) };
      const lines = !ctx.stdoutIsTTY || args.json;
      const first = await store.find(query);
      if (lines) {
        for (const event of first) ctx.stdout(`${JSON.stringify(workerEventToJson(event))}\n`);
      } else if (!args.follow) {
        ctx.stdout(first.length === 0 ? 'No events match.\n' : `${formatEventTable(first)}\n`);
      } else {
        ctx.stdout(`${formatEventTable(first)}\n`);
      }
      if (!args.follow) return;
      await follow(store, query, first, {
        intervalMs: Math.max(100, args['interval-ms']),
        now: () => ctx.now().getTime(),
        print: (event) => ctx.stdout(lines ? `${JSON.stringify(workerEventToJson(event))}\n` : `${followLine(event)}\n`),
        stderr: ctx.stderr,
        errorLine: ctx.errorLine,
        signals: ctx.signals,
      });
    },
  };
}

/** A --follow line on a terminal: the table's columns at fixed widths (the table was printed above it). */
function followLine(event: WorkerEvent): string {
  const widths = [20, 20, 17, 16, 10];
  return eventRow(event)
    .map((cell, i) => (i < widths.length ? cell.padEnd(widths[i] ?? 0) : cell))
    .join('  ')
    .trimEnd();
}

interface FollowDeps {
  intervalMs: number;
  now: () => number;
  print: (event: WorkerEvent) => void;
  stderr: (text: string) => void;
  errorLine: (error: unknown) => string;
  signals: ShutdownSignals | undefined;
}

/**
 * Reads again every interval what was written since the newest event seen,
 * less FOLLOW_OVERLAP_MS, and prints what it had not printed (ids remembered
 * for that window). A database that goes away is said once, and the reads go on.
 */
async function follow(store: Pick<WorkerEventStore, 'find'>, query: EventQuery, first: readonly WorkerEvent[], deps: FollowDeps): Promise<void> {
  let running = true;
  let wake: () => void = () => undefined;
  const unlisten = deps.signals?.onShutdown(() => {
    running = false;
    wake();
  });
  const seen = new Map<string, number>(first.map((event) => [event._id, event.at.getTime()]));
  let newestMs = Math.max(deps.now(), ...first.map((event) => event.at.getTime()));
  let failing = false;
  try {
    while (running) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deps.intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (!running) break;
      const fromMs = newestMs - FOLLOW_OVERLAP_MS;
      let events: WorkerEvent[];
      try {
        events = await store.find({ ...query, since: new Date(Math.max(fromMs, query.since?.getTime() ?? 0)), limit: MAX_EVENTS_PER_READ });
      } catch (error) {
        if (!(error instanceof DatabaseUnavailableError)) throw error;
        if (!failing) deps.stderr(`${deps.errorLine(error)} (still following: retrying every ${deps.intervalMs / 1000}s)\n`);
        failing = true;
        continue;
      }
      if (failing) deps.stderr('cluster-master: the database answers again; following\n');
      failing = false;
      for (const event of events) {
        if (seen.has(event._id)) continue;
        seen.set(event._id, event.at.getTime());
        newestMs = Math.max(newestMs, event.at.getTime());
        deps.print(event);
      }
      for (const [id, atMs] of seen) if (atMs < fromMs) seen.delete(id);
    }
  } finally {
    unlisten?.();
  }
}

