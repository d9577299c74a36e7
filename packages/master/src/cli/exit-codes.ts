import { ErrorCode, RegistryError, type ErrorCodeValue, type WorkerAlreadyRegisteredError } from '../errors.js';

/** What scripts around the CLI can rely on. */
export const EXIT = {
  ok: 0,
  /** The operation failed: not found, already registered, database unreachable. */
  failed: 1,
  /** The command line or the environment is wrong: fix it and run again. */
  usage: 2,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export function exitCodeFor(error: unknown): ExitCode {
  return error instanceof RegistryError && error.isUsage ? EXIT.usage : EXIT.failed;
}

/** What the command line adds to an error's message: the next step, in its own terms. */
const HINTS: Partial<Record<ErrorCodeValue, string | ((error: RegistryError) => string)>> = {
  [ErrorCode.usage]: ' (see --help)',
  [ErrorCode.workerAlreadyRegistered]: (error) => {
    const id = (error as WorkerAlreadyRegisteredError).workerId;
    return `; for a new token run: cluster-master worker token ${id} (with --token-file FILE to write it there); to register it anew, run cluster-master worker unregister ${id} first`;
  },
  [ErrorCode.workerNotFound]: '; see the registered ones with: cluster-master worker list',
  [ErrorCode.databaseUnavailable]: '; check that it is running and that MONGODB_URI or MONGODB_HOST points at it',
  [ErrorCode.portInUse]: ': stop that program, or choose another port with --port (MASTER_PORT)',
  [ErrorCode.portNotPermitted]: ': choose a port of 1024 or more with --port (MASTER_PORT), or give the service CAP_NET_BIND_SERVICE (systemd: AmbientCapabilities=)',
  [ErrorCode.addressNotAvailable]: ": choose one it has (ip -brief address), or 0.0.0.0 for all of them, with --host (MASTER_HOST)",
  [ErrorCode.enrollmentTokenNotFound]: '; see the live ones with: cluster-master enroll list (an expired, used-up or revoked token needs no revoking)',
};

/**
 * When neither MONGODB_URI nor MONGODB_HOST was set, the database tried was
 * the default one, which is rarely the one meant: say where the setting goes,
 * on an installed master and in a checkout with the dev database.
 */
export const DEFAULTED_DATABASE_HINT =
  '; MONGODB_URI is not set, so the default localhost:27017 was tried: set MONGODB_URI to the registry\'s database (on an installed master, in /etc/cluster-master/master.env); in a checkout, `bash scripts/devdb.sh status` says whether the dev database runs and `export MONGODB_URI=$(bash scripts/devdb.sh uri)` points at it';

/**
 * The one line printed on stderr for an error: the code for scripts, the
 * message for people. Unknown errors (bugs, driver surprises) get INTERNAL and
 * their message only: never a stack trace on an admin's terminal.
 */
export function errorLine(error: unknown, hide: (text: string) => string, options: { databaseDefaulted?: boolean } = {}): string {
  const code = error instanceof RegistryError ? error.code : 'INTERNAL';
  const message = error instanceof Error ? error.message : String(error);
  const found = error instanceof RegistryError ? HINTS[error.code] : undefined;
  const hint =
    code === ErrorCode.databaseUnavailable && options.databaseDefaulted === true
      ? DEFAULTED_DATABASE_HINT
      : typeof found === 'function'
        ? found(error as RegistryError)
        : (found ?? '');
  return `cluster-master: error [${code}]: ${hide(message.replace(/\s+/g, ' ').trim())}${hint}`;
}
