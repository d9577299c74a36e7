import type { Logger } from 'pino';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { MasterMetrics } from '../metrics/metrics.js';
import type { RefusalLog } from './admission/refusal-log.js';
import type { AdmissionView } from './admission/view.js';
import type { Clock } from './clock.js';
import type { DbHealth } from './db-health.js';
import type { MasterIdentity } from './http-server.js';
import type { LivenessMonitor } from './liveness/monitor.js';
import type { StaleSweeper } from './liveness/stale-sweep.js';
import type { ServerOptions } from './options.js';
import type { CredentialsPort, RegistryPort } from './ports.js';
import type { SessionHost } from './session/session-host.js';
import type { Startup } from './startup.js';
import type { RecentArrivals } from './liveness/recent-arrivals.js';
import type { HeartbeatWriter } from './writes/heartbeat-writer.js';
import type { WorkerHistory } from '../history/worker-history.js';

/*
 * Apart from wiring.ts, which builds them, so that the route tables it wires
 * (http/admin-routes.ts) can name the parts they use without importing it back.
 */

/** The master's parts, built and connected, none started. */
export interface MasterParts {
  options: ServerOptions;
  clock: Clock;
  logger: Logger;
  registry: RegistryPort;
  credentials: CredentialsPort;
  metrics: MasterMetrics;
  metricsRegistry: MetricsRegistry;
  health: DbHealth;
  view: AdmissionView;
  sweeper: StaleSweeper;
  writer: HeartbeatWriter;
  host: SessionHost;
  monitor: LivenessMonitor;
  refusals: RefusalLog;
  startup: Startup;
  identity: MasterIdentity;
  /** The worker history's writer; undefined without a database (unit tests with fake ports). */
  history: WorkerHistory | undefined;
  /** Workers admitted at the upgrade within the last heartbeat timeout (the sweep spares them). */
  arrivals: RecentArrivals;
}
