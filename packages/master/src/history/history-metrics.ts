import { Counter, Gauge, type Registry as MetricsRegistry } from 'prom-client';

export interface HistoryMetrics {
  written: Counter;
  dropped: Counter;
  pending: Gauge;
  pruned: Counter;
}

/** The worker history's metrics (history/worker-history.ts), in the master's registry. */
export function createHistoryMetrics(registry: MetricsRegistry): HistoryMetrics {
  const registers = [registry];
  return {
    written: new Counter({ name: 'cluster_master_worker_events_written_total', help: 'Worker events written to WORKER_EVENTS', registers }),
    dropped: new Counter({
      name: 'cluster_master_worker_events_dropped_total',
      help: 'Worker events dropped because the queue was full (database down or too slow)',
      registers,
    }),
    pending: new Gauge({ name: 'cluster_master_worker_events_pending', help: 'Worker events waiting to be written', registers }),
    pruned: new Counter({
      name: 'cluster_master_worker_events_pruned_total',
      help: 'Expired worker events deleted by the master (only where the database has no TTL index)',
      registers,
    }),
  };
}
