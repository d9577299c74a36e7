import type { Document, Filter } from 'mongodb';
import type { WorkerFilter } from './worker.js';

/** The query of the contract's example filters; all given ones must hold. */
export function filterFor(filter: WorkerFilter): Filter<Document> {
  const query: Filter<Document> = {};
  if (filter.active !== undefined) query.is_active = filter.active;
  if (filter.ip !== undefined) query.worker_ip = String(filter.ip);
  if (filter.gpu === true) query.total_gpu = { $gt: 0 };
  // "min" is at least, as a user reads `--min-cpu 2` (the contract's findByMinResources example keeps $gt).
  if (filter.minCpu !== undefined) query.total_cpu = { $gte: Number(filter.minCpu) };
  if (filter.minMemory !== undefined) query.total_memory = { $gte: Number(filter.minMemory) };
  if (filter.staleBefore !== undefined) {
    // The contract's stale query: still flagged active, but silent since the cutoff.
    // Stale means active, so "inactive and stale" is a query that matches nothing.
    if (filter.active === false) return { _id: { $exists: false } };
    query.is_active = true;
    query.last_heartbeat = { $lt: Number(filter.staleBefore) };
  }
  return query;
}

