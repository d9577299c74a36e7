import { MongoClient, type Db, type MongoClientOptions } from 'mongodb';
import { oneLine } from '../registry/driver-errors.js';
import { DatabaseUnavailableError, InvalidDatabaseSettingsError } from '../errors.js';
import { scrubSecrets } from './redact.js';
import type { MongoSettings } from './settings.js';

/** The admin CLI gives up on an unreachable database after this long. */
export const CLI_SERVER_SELECTION_TIMEOUT_MS = 5_000;

export interface ConnectOptions {
  /**
   * How long to wait for a usable server before failing (the driver's default
   * is 30 s). A `serverSelectionTimeoutMS` written in the URI wins: the
   * driver lets options given in code override the URI, which would silently
   * ignore what an operator wrote.
   */
  serverSelectionTimeoutMS?: number;
  /** Emit command monitoring events (tests count commands with them). */
  monitorCommands?: boolean;
  /** Shown in the server's logs and currentOp. */
  appName?: string;
}

export interface DatabaseConnection {
  client: MongoClient;
  db: Db;
  /** Redacted, loggable description: `mongodb://user:***@host/cluster_db`. */
  describe(): string;
  /** Closes the client. Safe to call twice. */
  close(): Promise<void>;
}

function uriSetsOption(uri: string, option: string): boolean {
  const query = uri.indexOf('?');
  if (query === -1) return false;
  const wanted = option.toLowerCase();
  return [...new URLSearchParams(uri.slice(query + 1)).keys()].some((key) => key.toLowerCase() === wanted);
}

/**
 * Connects and checks the server answers, so an unreachable database is one
 * DatabaseUnavailableError within the selection timeout instead of a hang or
 * a failure at the first query. Messages name the hosts and never the password.
 */
export async function connectDatabase(settings: MongoSettings, options: ConnectOptions = {}): Promise<DatabaseConnection> {
  const clientOptions: MongoClientOptions = {
    appName: options.appName ?? 'cluster-master',
    monitorCommands: options.monitorCommands ?? false,
  };
  if (options.serverSelectionTimeoutMS !== undefined && !uriSetsOption(settings.uri, 'serverSelectionTimeoutMS')) {
    clientOptions.serverSelectionTimeoutMS = options.serverSelectionTimeoutMS;
  }
  const hide = (text: string): string => scrubSecrets(oneLine(text), settings.secrets);

  let client: MongoClient;
  try {
    client = new MongoClient(settings.uri, clientOptions);
  } catch (error) {
    // A malformed connection string; the driver's message may quote it.
    throw new InvalidDatabaseSettingsError(`invalid MongoDB connection string: ${hide((error as Error).message)}`);
  }
  try {
    await client.connect();
  } catch (error) {
    await client.close().catch(() => undefined);
    throw new DatabaseUnavailableError(settings.hosts, hide((error as Error).message));
  }

  const db = client.db(settings.database);
  let closing: Promise<void> | undefined;
  return {
    client,
    db,
    describe: () => `${settings.description}${settings.database}`,
    close() {
      closing ??= client.close();
      return closing;
    },
  };
}
