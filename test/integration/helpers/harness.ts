import type { CommandStartedEvent, Db, Document } from 'mongodb';
import { MongoClient } from 'mongodb';
import { createCredentialStore, type CredentialStore } from '../../../packages/master/src/registry/credential-store.js';
import { createMaster, type Master } from '../../../packages/master/src/server/master.js';
import { createWorkerRegistry, type WorkerRegistry } from '../../../packages/master/src/registry/worker-registry.js';
import type { Worker } from '../../../packages/master/src/registry/worker.js';
import { createMasterLogger } from '../../../packages/master/src/logger.js';
import type { ServerOptions } from '../../../packages/master/src/server/options.js';
import { openTestDatabase, type TestDatabase } from '../../support/database.js';

/** Short intervals so the rules can be watched in a second or two. */
export const FAST: Partial<ServerOptions> = {
  host: '127.0.0.1',
  port: 0,
  heartbeatIntervalMs: 200,
  heartbeatTimeoutMs: 1_000,
  fleetGaugeQuietAfterLoadMs: 0,
  flushIntervalMs: 100,
  viewRefreshMs: 500,
  helloTimeoutMs: 1_000,
  missRefreshMinIntervalMs: 100,
  checkSourceAddress: false,
  retryBaseMs: 100,
  retryCapMs: 500,
  closeGraceMs: 500,
  sweepIntervalMs: 100,
  // Every test client is 127.0.0.1: the limits on failed authentications are tested on their own (auth-limits.test.ts).
  failedAuthPerAddress: 1_000_000,
  failedAuthTotal: 1_000_000,
};

export type WriteKind = 'heartbeat' | 'inactive' | 'sweep' | 'specs' | 'hardware' | 'horizon' | 'other';

export interface CommandRecord {
  name: string;
  atMs: number;
  /** For update commands: what the master was writing, and how many statements. */
  kind?: WriteKind;
  statements?: number;
}

function classify(command: Document): WriteKind {
  const updates = (command.updates ?? []) as { q?: Document; u?: Document }[];
  const first = updates[0];
  const set = (first?.u?.$set ?? {}) as Document;
  const query = first?.q ?? {};
  if ('total_cpu' in set) return 'specs';
  if ('hardware' in set) return 'hardware';
  if ('written_as_of' in set) return 'horizon';
  if ('last_heartbeat' in set) return 'heartbeat';
  // Flags name their workers (one $in, or one $or branch per last written second); the sweep names none.
  if (set.is_active === false) return 'worker_id' in query || '$or' in query ? 'inactive' : 'sweep';
  return 'other';
}

/** Every command the master's own MongoClient sends (driver command monitoring). */
export class CommandLog {
  readonly records: CommandRecord[] = [];

  record(event: CommandStartedEvent): void {
    const rec: CommandRecord = { name: event.commandName, atMs: performance.now() };
    if (event.commandName === 'update') {
      rec.kind = classify(event.command);
      rec.statements = Array.isArray(event.command.updates) ? event.command.updates.length : undefined;
    }
    this.records.push(rec);
  }

  mark(): number {
    return performance.now();
  }

  since(markMs: number, name?: string, kind?: WriteKind): CommandRecord[] {
    return this.records.filter(
      (r) => r.atMs >= markMs && (name === undefined || r.name === name) && (kind === undefined || r.kind === kind),
    );
  }

  count(markMs: number, name?: string, kind?: WriteKind): number {
    return this.since(markMs, name, kind).length;
  }

  /** Counts by command name since the mark (infrastructure commands left out). */
  summary(markMs: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.since(markMs)) {
      if (['hello', 'isMaster', 'ismaster', 'ping', 'endSessions', 'saslStart', 'saslContinue'].includes(r.name)) continue;
      const key = r.kind === undefined ? r.name : `${r.name}:${r.kind}`;
      out[key] = (out[key] ?? 0) + 1;
    }
    return out;
  }
}

type Logger = ReturnType<typeof createMasterLogger>;

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export function captureLogger(): { logger: Logger; lines: LogLine[]; raw: string[] } {
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const logger = createMasterLogger({
    level: 'debug',
    destination: {
      write(line: string) {
        raw.push(line);
        lines.push(JSON.parse(line) as LogLine);
      },
    },
  });
  return { logger, lines, raw };
}

export interface RunningMaster {
  master: Master;
  port: number;
  url: string;
  http: string;
  commands: CommandLog;
  logs: LogLine[];
  rawLogs: string[];
  client: MongoClient;
  close(): Promise<void>;
}

export interface Harness {
  test: TestDatabase;
  db: Db;
  registry: WorkerRegistry;
  credentials: CredentialStore;
  /** Registers a worker and issues its token. */
  register(workerId: string, workerIp?: string): Promise<string>;
  worker(workerId: string): Promise<Worker | null>;
  /** Starts a master on port 0 over this database, with its own monitored client. */
  startMaster(options?: Partial<ServerOptions>, extra?: { uri?: string; waitReady?: boolean; port?: number }): Promise<RunningMaster>;
  close(): Promise<void>;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 5_000, intervalMs = 20 } = {},
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function openHarness(): Promise<Harness> {
  const test = await openTestDatabase('srv');
  const registry = createWorkerRegistry(test.db);
  const credentials = createCredentialStore(test.db);
  await registry.ensureCollections();
  const masters: RunningMaster[] = [];

  return {
    test,
    db: test.db,
    registry,
    credentials,
    async register(workerId, workerIp = '127.0.0.1') {
      await registry.registerWorker(workerId, workerIp);
      return credentials.issue(workerId);
    },
    worker: (workerId) => registry.getWorker(workerId),
    async startMaster(options = {}, extra = {}) {
      const client = new MongoClient(extra.uri ?? test.uri, { monitorCommands: true, serverSelectionTimeoutMS: 1_000 });
      const commands = new CommandLog();
      client.on('commandStarted', (event) => commands.record(event));
      const { logger, lines, raw } = captureLogger();
      const master = createMaster({
        db: client.db(test.name),
        connect: () => client.connect(),
        logger,
        options: { ...FAST, ...options, ...(extra.port === undefined ? {} : { port: extra.port }) },
        closeDatabase: () => client.close(),
      });
      const { port } = await master.start();
      const running: RunningMaster = {
        master,
        port,
        url: `ws://127.0.0.1:${port}`,
        http: `http://127.0.0.1:${port}`,
        commands,
        logs: lines,
        rawLogs: raw,
        client,
        close: () => master.close(),
      };
      masters.push(running);
      if (extra.waitReady ?? true) {
        await waitFor('master ready', () => master.notReadyReason() === null);
      }
      return running;
    },
    async close() {
      await Promise.all(masters.map((m) => m.close()));
      await test.close();
    },
  };
}
