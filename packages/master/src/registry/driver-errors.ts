import {
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  type Db,
} from 'mongodb';
import { DatabaseUnavailableError } from '../errors.js';

/** The driver has no named constant for it; MongoDB and FerretDB both return it for inserts. */
export const DUPLICATE_KEY = 11000;

/**
 * FerretDB 1.x reports some unique-index violations (by an update, or when a
 * unique index is built over duplicates) as code 1 with SQLite's message
 * instead of 11000.
 */
const FERRETDB_UNIQUE_VIOLATION = /UNIQUE constraint failed/;

function isUniqueViolation(code: unknown, message: string): boolean {
  return code === DUPLICATE_KEY || (code === 1 && FERRETDB_UNIQUE_VIOLATION.test(message));
}

/** A write or index build that broke a unique index, on MongoDB or FerretDB. */
export function isDuplicateKeyError(error: unknown): boolean {
  return error instanceof MongoServerError && isUniqueViolation(error.code, error.message);
}

/** Errors that mean "the database is not there", as opposed to "it refused this". */
export function isConnectivityError(error: unknown): boolean {
  return (
    error instanceof MongoServerSelectionError ||
    error instanceof MongoNetworkError ||
    error instanceof MongoTopologyClosedError ||
    error instanceof MongoNotConnectedError
  );
}

/** Host list of the client behind `db` (never its credentials). */
export function describeHosts(db: Db): string {
  const hosts = db.client.options.hosts.map((host) => host.toString());
  return hosts.length > 0 ? hosts.join(',') : 'an unknown host';
}

/** A driver message as one short line: error lines go to terminals and logs. */
export function oneLine(message: string, maxLength = 200): string {
  const line = message.replace(/\s+/g, ' ').trim();
  return line.length > maxLength ? `${line.slice(0, maxLength)}…` : line;
}

/** Runs a database operation, turning "cannot reach the database" into DatabaseUnavailableError. */
export async function guard<T>(where: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (isConnectivityError(error)) {
      throw new DatabaseUnavailableError(where, oneLine((error as Error).message));
    }
    throw error;
  }
}
