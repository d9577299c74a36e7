import type { Db } from 'mongodb';
import type { Logger } from 'pino';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { Clock } from '../server/clock.js';
import type { ServerOptions } from '../server/options.js';
import { createWorkerEventStore } from './event-store.js';
import { createHistoryMetrics } from './history-metrics.js';
import { WorkerHistory } from './worker-history.js';

/** The master's worker history on its database; none without one (unit tests with fake ports). */
export function createWorkerHistory(
  db: Db | undefined,
  deps: { clock: Clock; logger: Logger; metricsRegistry: MetricsRegistry; instance: string; options: Pick<ServerOptions, 'eventTtlDays' | 'eventFlushIntervalMs' | 'eventQueueMax'> },
): WorkerHistory | undefined {
  if (db === undefined) return undefined;
  return new WorkerHistory({
    store: createWorkerEventStore(db),
    clock: deps.clock,
    logger: deps.logger,
    metrics: createHistoryMetrics(deps.metricsRegistry),
    instance: deps.instance,
    ttlSeconds: deps.options.eventTtlDays * 86_400,
    flushIntervalMs: deps.options.eventFlushIntervalMs,
    maxPending: deps.options.eventQueueMax,
  });
}
