import { Counter, Gauge, Histogram, type Registry as MetricsRegistry } from 'prom-client';

export type RefusalReason =
  | 'bad_path'
  | 'bad_handshake'
  | 'unsupported_version'
  | 'bad_worker_id'
  | 'unknown_worker'
  | 'unauthorized'
  | 'forbidden'
  | 'unavailable'
  | 'busy'
  | 'too_many_failures'
  | 'shutting_down';

/**
 * Why a request was turned away before it could be an upgrade: Node's HTTP
 * parser refused its head (too large, malformed, not HTTP), it did not arrive
 * in time, the peer reset it, a CONNECT, a plain request (wrong method, the
 * agent path without an upgrade, an unknown path), or a TLS handshake failed.
 */
export type HttpRefusalReason =
  | 'header_too_large'
  | 'body_too_large'
  | 'bad_request'
  | 'timeout'
  | 'reset'
  | 'connect'
  | 'method_not_allowed'
  | 'upgrade_required'
  | 'not_found'
  | 'tls';

export type DbOp = 'heartbeat' | 'specs' | 'hardware' | 'inactive' | 'sweep';
/**
 * clean_close: the agent said goodbye; master_close: the master ended the session (credential changed,
 * protocol violation); handover: a stopping master's workers that no other master took over.
 */
export type InactiveCause = 'clean_close' | 'master_close' | 'timeout' | 'sweep' | 'handover';

export interface MasterMetrics {
  connectedAgents: Gauge;
  admissions: Counter;
  refusals: Counter<'reason'>;
  /** Upgrades held now, waiting for the master to take them (admission/held-upgrades.ts). */
  upgradesHeld: Gauge;
  /** Held upgrades by how their hold ended. */
  upgradeHolds: Counter<'outcome'>;
  httpRefusals: Counter<'reason'>;
  heartbeatsReceived: Counter;
  /**
   * One heartbeat received: a plain count, added to `heartbeatsReceived` when
   * it is read (a scrape). The heartbeat path calls it 2,000 times a second
   * at 10,000 agents; prom-client's inc() allocates on every call.
   */
  heartbeatReceived(): void;
  dbWriteDuration: Histogram<'op'>;
  dbWriteErrors: Counter<'op'>;
  workersFlaggedInactive: Counter<'cause'>;
  sweepDuration: Histogram;
  sweepsDeferred: Counter;
  protocolErrors: Counter<'code'>;
}

/**
 * The master's metrics, registered in the registry given (never prom-client's
 * global one, so several masters can live in one test process).
 */
export function createMasterMetrics(registry: MetricsRegistry): MasterMetrics {
  const registers = [registry];
  /** Heartbeats counted by heartbeatReceived() since the counter was last read. */
  let heartbeatsNotAdded = 0;
  const writeBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
  return {
    connectedAgents: new Gauge({
      name: 'cluster_master_connected_agents',
      help: 'Agents with a live session (hello received) on this master',
      registers,
    }),
    admissions: new Counter({
      name: 'cluster_master_admissions_total',
      help: 'Upgrades admitted (worker known, token and address accepted)',
      registers,
    }),
    refusals: new Counter({
      name: 'cluster_master_refusals_total',
      help: 'Upgrades refused, by reason',
      labelNames: ['reason'],
      registers,
    }),
    upgradesHeld: new Gauge({
      name: 'cluster_master_upgrades_held',
      help: 'Upgrades held (not answered yet) because the master could not take them: admission view loading, or admissions in flight at their bound',
      registers,
    }),
    upgradeHolds: new Counter({
      name: 'cluster_master_upgrade_holds_total',
      help: 'Held upgrades by how the hold ended: taken (went on to admission), expired (answered 503 + Retry-After), gone (the peer closed), shutdown (answered 503)',
      labelNames: ['outcome'],
      registers,
    }),
    httpRefusals: new Counter({
      name: 'cluster_master_http_refusals_total',
      help: 'Requests turned away before any upgrade (bad or slow request head, CONNECT, plain HTTP, TLS handshake), by reason',
      labelNames: ['reason'],
      registers,
    }),
    heartbeatsReceived: new Counter({
      name: 'cluster_master_heartbeats_received_total',
      help: 'Heartbeat messages received from agents',
      registers,
      collect() {
        if (heartbeatsNotAdded === 0) return;
        this.inc(heartbeatsNotAdded);
        heartbeatsNotAdded = 0;
      },
    }),
    heartbeatReceived: () => {
      heartbeatsNotAdded += 1;
    },
    dbWriteDuration: new Histogram({
      name: 'cluster_master_db_write_duration_seconds',
      help: 'Duration of batched registry writes, by operation',
      labelNames: ['op'],
      buckets: writeBuckets,
      registers,
    }),
    dbWriteErrors: new Counter({
      name: 'cluster_master_db_write_errors_total',
      help: 'Failed batched registry writes, by operation',
      labelNames: ['op'],
      registers,
    }),
    workersFlaggedInactive: new Counter({
      name: 'cluster_master_workers_flagged_inactive_total',
      help: 'Workers this master flagged inactive, by cause',
      labelNames: ['cause'],
      registers,
    }),
    sweepDuration: new Histogram({
      name: 'cluster_master_sweep_duration_seconds',
      help: 'Duration of the stale sweep query',
      buckets: writeBuckets,
      registers,
    }),
    sweepsDeferred: new Counter({
      name: 'cluster_master_sweeps_deferred_total',
      help: 'Due stale sweeps put off to the next cycle because too many returned workers had no heartbeat write landed yet (a storm still being written)',
      registers,
    }),
    protocolErrors: new Counter({
      name: 'cluster_master_protocol_errors_total',
      help: 'Sessions closed for a protocol violation, by close code',
      labelNames: ['code'],
      registers,
    }),
  };
}
