// Public API of @cluster/master: the WORKER_REGISTRY data layer, worker
// credentials and database settings. Other modules append their exports below.
export {
  DEFAULT_MAX_UPDATES_PER_COMMAND,
  createWorkerRegistry,
  type WorkerRegistry,
  type WorkerRegistryOptions,
} from './registry/worker-registry.js';
export type {
  AdmissionEntry,
  Worker,
  WorkerFilter,
  WorkerInfoUpdate,
  WorkerSpecs,
  WorkerSpecsEntry,
} from './registry/worker.js';
export { COLLECTIONS, INDEXES, ensureCollections, type EnsureReport } from './registry/collections.js';
// The registry's own document mapping, for tools that seed workers in bulk (the benchmark).
export { newWorkerDocument, specsToBson } from './registry/document.js';
export {
  ErrorCode,
  RegistryError,
  UsageError,
  ConfigError,
  InvalidWorkerIdError,
  InvalidWorkerAddressError,
  InvalidWorkerDataError,
  InvalidDatabaseSettingsError,
  WorkerAlreadyRegisteredError,
  WorkerNotFoundError,
  DatabaseUnavailableError,
  RegistrySchemaError,
  type ErrorCodeValue,
} from './errors.js';
export { isValidWorkerAddress, isHostname } from './registry/validate.js';
export { isConnectivityError } from './registry/driver-errors.js';
export { createAdmissionVersion, type AdmissionVersion } from './registry/admission-version.js';
export { createCredentialStore, type CredentialStore, type CredentialStoreOptions } from './registry/credential-store.js';
export { TOKEN_BYTES, generateToken, hashToken, tokensMatch } from './registry/token.js';
export {
  DEFAULT_DATABASE,
  DEFAULT_MONGODB_HOST,
  mongoSettingsFromEnv,
  type Env,
  type MongoSettings,
} from './db/settings.js';
export {
  CLI_SERVER_SELECTION_TIMEOUT_MS,
  connectDatabase,
  type ConnectOptions,
  type DatabaseConnection,
} from './db/connect.js';
export { scrubSecrets } from './db/redact.js';
export { runCli } from './cli/program.js';
export type { CliOptions, OpenDatabase } from './cli/context.js';
export { EXIT, type ExitCode } from './cli/exit-codes.js';
export { createMaster, type Master } from './server/master.js';
export type { CreateMasterOptions } from './server/create-master-options.js';
export { SERVER_DEFAULTS, resolveServerOptions, type ServerOptions } from './server/options.js';
export type { RegistryPort, CredentialsPort, TokenVerifier } from './server/ports.js';
export { createMasterMetrics, type MasterMetrics } from './metrics/metrics.js';
export { createMasterLogger } from './logger.js';
export { parseServeConfig, type ServeConfig, type ServeFlags } from './cli/serve-config.js';
export { serveCommand, runServe, processShutdownSignals, type ShutdownSignals, type ServeIo } from './cli/serve-command.js';
