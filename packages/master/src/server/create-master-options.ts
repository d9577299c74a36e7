import type { Db } from 'mongodb';
import type { Logger } from 'pino';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { LookupAll } from './admission/address.js';
import type { Clock } from './clock.js';
import type { EarlyListener } from './early-listener.js';
import type { MasterIdentity } from './http-server.js';
import type { ServerOptions } from './options.js';
import type { AdmissionSnapshotPort, AdmissionVersionPort, CredentialsPort, RegistryPort, TokenVerifier } from './ports.js';

/** What createMaster is given (master.ts), and what wiring.ts builds the parts from. */
export interface CreateMasterOptions {
  /** The database: the registry and the credential store are built on it unless given below. */
  db?: Db;
  /** The registry data layer (or a fake with the same methods); default createWorkerRegistry(db). */
  registry?: RegistryPort;
  /** Default createCredentialStore(db). */
  credentials?: CredentialsPort;
  /** The registry's admission version; default createAdmissionVersion(db). Without one (no db), every view check re-reads the whole view. */
  admissionVersion?: AdmissionVersionPort;
  /** Where the admission view is kept between runs (a restart admits from it); default createAdmissionSnapshotStore(db); none without a db. */
  admissionSnapshot?: AdmissionSnapshotPort;
  /** Constant-time check of a presented token against a stored hash; default tokensMatch. */
  verifyToken?: TokenVerifier;
  /**
   * Connects the database client; called (and retried with backoff) before
   * anything else. Pass `() => client.connect()`: after a failed first
   * connection the driver's topology stays closed until connect() is called again.
   */
  connect?: () => Promise<unknown>;
  /** Called last in close(): pass it when the master owns the database client. */
  closeDatabase?: () => Promise<void>;
  logger: Logger;
  /** Wall clock, monotonic clock and timers of everything the master does; default systemClock. */
  clock?: Clock;
  /** Where the metrics are registered; a fresh one when absent. */
  metricsRegistry?: MetricsRegistry;
  /** Host name resolution for worker_ip host names. */
  lookup?: LookupAll;
  options?: Partial<ServerOptions>;
  /**
   * The listening socket, bound before the master was loaded (serve binds it
   * first thing): taken over when it is bound to options.host/port, else
   * closed and the master listens itself. Absent: the master listens itself.
   */
  earlyListener?: EarlyListener | undefined;
  /** What /healthz names this master by; default this process's pid and a random id. */
  identity?: MasterIdentity;
}
