import type { EarlyListener } from '../server/early-listener.js';
import { createCredentialStore, type CredentialStore } from '../registry/credential-store.js';
import { CLI_SERVER_SELECTION_TIMEOUT_MS, connectDatabase, type DatabaseConnection } from '../db/connect.js';
import { scrubSecrets } from '../db/redact.js';
import { mongoSettingsFromEnv, type Env, type MongoSettings } from '../db/settings.js';
import { createWorkerRegistry, type WorkerRegistry } from '../registry/worker-registry.js';
import type { ShutdownSignals } from './serve-command.js';
import { errorLine } from './exit-codes.js';

export type Write = (text: string) => void;
export type OpenDatabase = (settings: MongoSettings) => Promise<DatabaseConnection>;

/** Everything the CLI takes from the outside world; main.ts passes the process's. */
export interface CliOptions {
  /** Arguments after the program name (hideBin(process.argv)). */
  argv: readonly string[];
  env: Env;
  stdout: Write;
  stderr: Write;
  /** Default: connectDatabase with a CLI_SERVER_SELECTION_TIMEOUT_MS bound. */
  openDatabase?: OpenDatabase;
  now?: () => Date;
  /** Shown by --version; no --version option without it. */
  version?: string;
  /** Shutdown requests for `serve` (main.ts passes SIGTERM/SIGINT). */
  signals?: ShutdownSignals;
  /** The socket main.ts bound for `serve` before loading the CLI (server/early-listener.ts). */
  earlyListener?: EarlyListener | undefined;
  /** Whether stdout is a terminal (`worker list --watch` redraws in place there). */
  stdoutIsTTY?: boolean;
  /** Standard input, for `pretty` (main.ts passes process.stdin). */
  stdin?: AsyncIterable<string | Buffer>;
  /** All of standard input (`worker register --from -`); main.ts passes the process's. */
  readStdin?: () => Promise<string>;
}

export interface Services {
  registry: WorkerRegistry;
  credentials: CredentialStore;
  settings: MongoSettings;
  connection: DatabaseConnection;
}

/** What a command handler gets: output, the clock, and the database on demand. */
export interface CommandContext {
  stdout: Write;
  stderr: Write;
  /** The one-line error text the CLI prints (secrets hidden), for commands that report and go on. */
  errorLine: (error: unknown) => string;
  stdoutIsTTY: boolean;
  /** Ctrl-C and SIGTERM, for commands that run until stopped. */
  signals?: ShutdownSignals | undefined;
  now: () => Date;
  /** All of standard input; rejects when the CLI was given none. */
  readStdin: () => Promise<string>;
  /**
   * Connects on first use, so --help and usage errors never wait for (or
   * need) a database.
   */
  services(): Promise<Services>;
}

export const defaultOpenDatabase: OpenDatabase = (settings) =>
  connectDatabase(settings, { serverSelectionTimeoutMS: CLI_SERVER_SELECTION_TIMEOUT_MS });

/** Secrets in the environment, to be scrubbed from anything printed. */
export function secretsOf(env: Env): string[] {
  const secrets: string[] = [];
  const password = env.MONGODB_PASSWORD;
  if (password !== undefined && password !== '') secrets.push(password, encodeURIComponent(password));
  try {
    secrets.push(...mongoSettingsFromEnv(env).secrets);
  } catch {
    // Invalid settings: their error says so without quoting any value.
  }
  return secrets;
}

export function createCommandContext(options: CliOptions): CommandContext & { close(): Promise<void>; hide: (text: string) => string } {
  const now = options.now ?? (() => new Date());
  const open = options.openDatabase ?? defaultOpenDatabase;
  const secrets = secretsOf(options.env);
  let opened: Promise<Services> | undefined;

  const hide = (text: string): string => scrubSecrets(text, secrets);
  const databaseDefaulted = [options.env.MONGODB_URI, options.env.MONGODB_HOST].every((value) => value === undefined || value === '');
  return {
    stdout: options.stdout,
    stderr: options.stderr,
    errorLine: (error) => errorLine(error, hide, { databaseDefaulted }),
    stdoutIsTTY: options.stdoutIsTTY === true,
    signals: options.signals,
    now,
    readStdin: options.readStdin ?? (() => Promise.reject(new Error('no standard input'))),
    services() {
      opened ??= (async () => {
        const settings = mongoSettingsFromEnv(options.env);
        const connection = await open(settings);
        const shared = { now, describeDatabase: settings.hosts };
        return {
          registry: createWorkerRegistry(connection.db, shared),
          credentials: createCredentialStore(connection.db, shared),
          settings,
          connection,
        };
      })();
      return opened;
    },
    async close() {
      if (opened === undefined) return;
      const services = await opened.catch(() => undefined);
      await services?.connection.close();
    },
    hide,
  };
}
