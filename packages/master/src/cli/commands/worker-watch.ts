import type { Worker, WorkerFilter } from '../../registry/worker.js';
import { DatabaseUnavailableError } from '../../errors.js';
import type { ShutdownSignals } from '../serve-command.js';
import { formatDate, formatWorkerTable, workerToJson } from '../format.js';
import { FullReadSchedule, QUIET_FULL_READ_FACTOR, type ServingMasters } from '../../registry/full-read-cadence.js';

export interface WatchDeps {
  find(filter: WorkerFilter): Promise<Worker[]>;
  /**
   * The admission version (registry/admission-version.ts): the admin tools set
   * a new one at every registration, update and unregistration. Read at every
   * interval (one find by _id); a new one means a read of the registry at once.
   */
  version?: (() => Promise<string | null>) | undefined;
  /** The filter as of `now` (`--stale` moves with the clock). */
  filterAt(now: Date): WorkerFilter;
  now: () => Date;
  /** Milliseconds that never go back (how long since the last read); default performance.now. */
  monotonic?: () => number;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** The CLI's one-line error text. */
  errorLine: (error: unknown) => string;
  /** Redraw a table in place (a terminal) or print one JSON line per change. */
  tty: boolean;
  /** Ctrl-C (SIGINT) or SIGTERM ends the watch; without them it runs until the process ends. */
  signals?: ShutdownSignals | undefined;
  intervalMs: number;
  /**
   * The registry is read (with the filter) this often while a master serves
   * workers or served lately (the write horizon says): connections,
   * heartbeats and flags of masters show within it. A read is the whole
   * collection; at 10,000 workers it costs the dev database about two
   * CPU-seconds, so once an interval took most of a core.
   */
  fullReadMs: number;
  /** How many masters published on the write horizon since a time (full-read-cadence.ts). Absent: a read every fullReadMs. */
  servingMasters?: ServingMasters | undefined;
  /** While no master serves: the registry is read this often (writes from outside the admin tools). Default 10 × fullReadMs. */
  quietFullReadMs?: number | undefined;
}

/** How often `--watch` reads the whole registry by default. */
export const WATCH_FULL_READ_MS = 60_000;

/** Home, clear the screen: the table is drawn afresh where the last one was. */
const REDRAW = '\x1b[H\x1b[2J';

/** What counts as a change for the JSON lines: everything but the heartbeat's own timestamps, which move every beat. */
function changeKey(worker: Worker): string {
  const { last_heartbeat: _beat, updated_at: _updated, ...rest } = workerToJson(worker);
  return JSON.stringify(rest);
}

const seconds = (ms: number): string => `${ms / 1000}s`;

/**
 * `worker list --watch`. Every interval it reads the admission version (one
 * find by _id) and reads the registry only when that moved (an admin write)
 * or a full read is due: every `fullReadMs` while a master serves workers
 * (or served lately), every `quietFullReadMs` while none does (nobody but the
 * admin tools writes then). What it costs follows what changed, not the
 * fleet's size. On a terminal the table is redrawn in place
 * every interval (ages tick); otherwise one JSON line per change,
 * `{"event":"added"|"modified"|"deleted", ...worker}`, the first read being
 * all "added" (like `kubectl get -w`). A signal ends it cleanly (exit 0).
 * A database that goes away does not end it: the error is said once (on
 * stderr, and in the table's place on a terminal), the reads go on every
 * interval, and the first one that succeeds says so and carries on from
 * what was known, so a restart of the database emits no spurious events.
 */
export async function watchWorkers(deps: WatchDeps): Promise<void> {
  const monotonic = deps.monotonic ?? (() => performance.now());
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  let running = true;
  const unlisten = deps.signals?.onShutdown(() => {
    running = false;
    stop();
  });
  const pause = async (): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([stopped, new Promise<void>((resolve) => (timer = setTimeout(resolve, deps.intervalMs)))]);
    clearTimeout(timer);
  };
  const known = new Map<string, string>();
  /** The error line of the outage under way, if the last read failed. */
  let outage: string | undefined;
  /** The last read of the registry: its workers and the admission version read before it. */
  let last: { workers: Worker[]; version: string | null | undefined } | undefined;
  const schedule = new FullReadSchedule(
    { fullReadMs: deps.fullReadMs, quietFullReadMs: deps.servingMasters === undefined ? deps.fullReadMs : (deps.quietFullReadMs ?? QUIET_FULL_READ_FACTOR * deps.fullReadMs) },
    deps.servingMasters,
    { monotonic, now: () => deps.now().getTime() },
  );
  try {
    while (running) {
      const now = deps.now();
      // Ages count from now at each redraw; the rows are as of the last read, whose age is said.
      const readAgo = schedule.lastReadMs === Number.NEGATIVE_INFINITY ? '' : `registry read ${Math.round((monotonic() - schedule.lastReadMs) / 1000)}s ago; `;
      const header = `Every ${seconds(deps.intervalMs)}: cluster-master worker list   ${formatDate(now)}   (${readAgo}Ctrl-C to stop)\n\n`;
      let workers: Worker[];
      let read = false;
      try {
        const version = await deps.version?.();
        if (last === undefined || version !== last.version || (await schedule.due())) {
          const startedAt = monotonic();
          last = { workers: await deps.find(deps.filterAt(now)), version };
          schedule.readAt(startedAt);
          read = true;
        }
        workers = last.workers;
      } catch (error) {
        if (!(error instanceof DatabaseUnavailableError)) throw error;
        if (!running) break;
        const line = deps.errorLine(error);
        if (outage === undefined) deps.stderr(`${line} (still watching: retrying every ${seconds(deps.intervalMs)})\n`);
        outage = line;
        // Read again as soon as it answers: what changed during the outage is not in the version.
        schedule.forget();
        if (deps.tty) deps.stdout(`${REDRAW}${header}${line}\n`);
        await pause();
        continue;
      }
      if (!running) break;
      if (outage !== undefined) deps.stderr('cluster-master: the database answers again; watching\n');
      outage = undefined;
      if (deps.tty) {
        deps.stdout(`${REDRAW}${header}${workers.length === 0 ? 'No workers match.' : formatWorkerTable(workers, now)}\n`);
      } else if (read) {
        emitChanges(workers, known, deps.stdout);
      }
      await pause();
    }
  } finally {
    unlisten?.();
  }
}

function emitChanges(workers: readonly Worker[], known: Map<string, string>, stdout: (text: string) => void): void {
  const seen = new Set<string>();
  for (const worker of workers) {
    seen.add(worker.worker_id);
    const key = changeKey(worker);
    const before = known.get(worker.worker_id);
    if (before === key) continue;
    known.set(worker.worker_id, key);
    stdout(`${JSON.stringify({ event: before === undefined ? 'added' : 'modified', ...workerToJson(worker) })}\n`);
  }
  for (const id of [...known.keys()]) {
    if (seen.has(id)) continue;
    known.delete(id);
    stdout(`${JSON.stringify({ event: 'deleted', worker_id: id })}\n`);
  }
}
