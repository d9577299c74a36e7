import { WORKER_ID_MAX_LENGTH } from '@cluster/protocol';
import { quote } from './printable.js';

/**
 * The package's error catalogue: every error a user or an operator can cause,
 * with a stable code. Callers branch on `code` (or `instanceof`), never on the
 * message, so the wording can improve without breaking them. Messages are one
 * line and say what is wrong; they name no command or environment variable
 * (the data layer does not know the command line): the CLI adds its own hint
 * per code (cli/exit-codes.ts).
 */
export const ErrorCode = {
  usage: 'USAGE',
  invalidWorkerId: 'INVALID_WORKER_ID',
  invalidWorkerAddress: 'INVALID_WORKER_ADDRESS',
  invalidWorkerData: 'INVALID_WORKER_DATA',
  invalidDatabaseSettings: 'INVALID_DATABASE_SETTINGS',
  workerAlreadyRegistered: 'WORKER_ALREADY_REGISTERED',
  workerNotFound: 'WORKER_NOT_FOUND',
  databaseUnavailable: 'DATABASE_UNAVAILABLE',
  registrySchema: 'REGISTRY_SCHEMA',
  adminTokenNotFound: 'ADMIN_TOKEN_NOT_FOUND',
  portInUse: 'PORT_IN_USE',
  portNotPermitted: 'PORT_NOT_PERMITTED',
  addressNotAvailable: 'ADDRESS_NOT_AVAILABLE',
  tokenFile: 'TOKEN_FILE',
  restartFailed: 'RESTART_FAILED',
  invalidWorkerBatch: 'INVALID_WORKER_BATCH',
  enrollmentTokenNotFound: 'ENROLLMENT_TOKEN_NOT_FOUND',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export abstract class RegistryError extends Error {
  abstract readonly code: ErrorCodeValue;
  /** True for errors caused by the caller's input (the CLI exits 2 for those). */
  abstract readonly isUsage: boolean;
}

export class UsageError extends RegistryError {
  readonly code = ErrorCode.usage;
  readonly isUsage = true;
  override name = 'UsageError';
}

/** A wrong flag or environment variable of `serve`: a usage error (exit 2). */
export class ConfigError extends UsageError {
  override name = 'ConfigError';
}

export class InvalidWorkerIdError extends RegistryError {
  readonly code = ErrorCode.invalidWorkerId;
  readonly isUsage = true;
  override name = 'InvalidWorkerIdError';
  constructor(readonly workerId: unknown) {
    super(
      `invalid worker id ${quote(workerId)}: use 1 to ${WORKER_ID_MAX_LENGTH} letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
}

export class InvalidWorkerAddressError extends RegistryError {
  readonly code = ErrorCode.invalidWorkerAddress;
  readonly isUsage = true;
  override name = 'InvalidWorkerAddressError';
  constructor(readonly address: unknown) {
    super(`invalid worker address ${quote(address)}: give an IPv4 address, an IPv6 address or a host name`);
  }
}

/** Specs or a heartbeat time that cannot be stored (negative, not finite, not an integer). */
export class InvalidWorkerDataError extends RegistryError {
  readonly code = ErrorCode.invalidWorkerData;
  readonly isUsage = true;
  override name = 'InvalidWorkerDataError';
}

export class InvalidDatabaseSettingsError extends RegistryError {
  readonly code = ErrorCode.invalidDatabaseSettings;
  readonly isUsage = true;
  override name = 'InvalidDatabaseSettingsError';
}

export class WorkerAlreadyRegisteredError extends RegistryError {
  readonly code = ErrorCode.workerAlreadyRegistered;
  readonly isUsage = false;
  override name = 'WorkerAlreadyRegisteredError';
  constructor(readonly workerId: string) {
    super(`worker ${quote(workerId)} is already registered`);
  }
}

export class WorkerNotFoundError extends RegistryError {
  readonly code = ErrorCode.workerNotFound;
  readonly isUsage = false;
  override name = 'WorkerNotFoundError';
  constructor(readonly workerId: string) {
    super(`worker ${quote(workerId)} is not registered`);
  }
}

/**
 * The database could not be reached in time. `where` names the host(s) only:
 * a password must never end up in a message, a log line or a terminal.
 */
export class DatabaseUnavailableError extends RegistryError {
  readonly code = ErrorCode.databaseUnavailable;
  readonly isUsage = false;
  override name = 'DatabaseUnavailableError';
  constructor(
    readonly where: string,
    reason: string,
  ) {
    super(`MongoDB at ${where} is unavailable (${reason})`);
  }
}

/** The database holds something the registry cannot work with (e.g. a non-unique index on worker_id). */
export class RegistrySchemaError extends RegistryError {
  readonly code = ErrorCode.registrySchema;
  readonly isUsage = false;
  override name = 'RegistrySchemaError';
}

/** `admin token --revoke ID` named no live admin token. */
export class AdminTokenNotFoundError extends RegistryError {
  readonly code = ErrorCode.adminTokenNotFound;
  readonly isUsage = false;
  override name = 'AdminTokenNotFoundError';
  constructor(readonly tokenId: string) {
    super(`no live admin token with id ${quote(tokenId)}`);
  }
}

/** `serve` could not listen: another program (another master?) holds the address. */
export class PortInUseError extends RegistryError {
  readonly code = ErrorCode.portInUse;
  readonly isUsage = false;
  override name = 'PortInUseError';
  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    super(`${hostPort(host, port)} is in use by another program (another master?)`);
  }
}

/** `serve` could not listen: a port below 1024 needs a privilege this process lacks (EACCES). */
export class PortNotPermittedError extends RegistryError {
  readonly code = ErrorCode.portNotPermitted;
  readonly isUsage = false;
  override name = 'PortNotPermittedError';
  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    super(`${hostPort(host, port)}: this user may not listen on port ${port} (below 1024 it takes root or CAP_NET_BIND_SERVICE)`);
  }
}

/** `serve` could not listen: no interface of this machine has that address (EADDRNOTAVAIL). */
export class AddressNotAvailableError extends RegistryError {
  readonly code = ErrorCode.addressNotAvailable;
  readonly isUsage = false;
  override name = 'AddressNotAvailableError';
  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    super(`${hostPort(host, port)}: no network interface of this machine has the address ${host}`);
  }
}

/**
 * The listen failures an operator causes by hand, as errors that say which
 * address and what to do; anything else is returned as it was.
 */
export function listenError(error: unknown, host: string, port: number): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE') return new PortInUseError(host, port);
  if (code === 'EACCES') return new PortNotPermittedError(host, port);
  if (code === 'EADDRNOTAVAIL') return new AddressNotAvailableError(host, port);
  return error;
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * `--token-file` names a file that cannot be written. Found before the
 * registry is changed, it is a usage error (exit 2, nothing happened); after
 * a token was issued (`isUsage: false`), the message says how to get another.
 */
export class TokenFileError extends RegistryError {
  readonly code = ErrorCode.tokenFile;
  override name = 'TokenFileError';
  constructor(
    message: string,
    readonly isUsage = true,
  ) {
    super(message);
  }
}

/** `cluster-master restart` could not mark the restart as planned, or systemctl failed. */
export class RestartFailedError extends RegistryError {
  readonly code = ErrorCode.restartFailed;
  readonly isUsage = false;
  override name = 'RestartFailedError';
}

/**
 * `worker register --from FILE` or a range: nothing was registered, because of
 * the problems listed (each with its line) before this error's one line.
 * `isUsage` is false when the input was fine but some ids exist already.
 */
export class InvalidWorkerBatchError extends RegistryError {
  readonly code = ErrorCode.invalidWorkerBatch;
  override name = 'InvalidWorkerBatchError';
  constructor(
    message: string,
    readonly problems: readonly string[],
    readonly isUsage: boolean,
  ) {
    super(message);
  }
}

/** `enroll revoke ID` named no live enrollment token. */
export class EnrollmentTokenNotFoundError extends RegistryError {
  readonly code = ErrorCode.enrollmentTokenNotFound;
  readonly isUsage = false;
  override name = 'EnrollmentTokenNotFoundError';
  constructor(readonly tokenId: string) {
    super(`no live enrollment token with id ${quote(tokenId)}`);
  }
}
