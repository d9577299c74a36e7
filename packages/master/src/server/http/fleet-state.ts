import type { Worker } from '../../registry/worker.js';
import { unixSeconds } from '../clock.js';

/** The registry as a whole, in the few numbers /metrics exports about it. */
export interface FleetState {
  active: number;
  inactive: number;
  /** Seconds since the oldest `last_heartbeat` among active workers (0 when none is active). */
  oldestActiveHeartbeatAgeSeconds: number;
  /** Seconds the inactive worker silent longest has been so (0 when none is inactive). */
  longestInactiveSeconds: number;
}

/**
 * Counts the workers given (the fleet feed's view: the database with this
 * master's own sessions laid over it) at `nowMs`. An inactive worker is silent
 * since its last sign of life, `last_heartbeat`, or since it was registered
 * when that is later (one registered that never came has `last_heartbeat` 0,
 * and is missing since its registration, not since 1970). Ages never go below
 * 0 (a clock a little ahead on another master).
 */
export function fleetState(workers: readonly Worker[], nowMs: number): FleetState {
  const now = unixSeconds(nowMs);
  let active = 0;
  let inactive = 0;
  let oldestActive = Number.POSITIVE_INFINITY;
  let oldestInactive = Number.POSITIVE_INFINITY;
  for (const worker of workers) {
    if (worker.is_active) {
      active += 1;
      oldestActive = Math.min(oldestActive, worker.last_heartbeat);
    } else {
      inactive += 1;
      const registered = unixSeconds(worker.registered_at.getTime());
      // A registered_at out of JavaScript's range (NaN) leaves last_heartbeat alone.
      oldestInactive = Math.min(oldestInactive, Number.isNaN(registered) ? worker.last_heartbeat : Math.max(worker.last_heartbeat, registered));
    }
  }
  const age = (since: number): number => (Number.isFinite(since) ? Math.max(0, now - since) : 0);
  return { active, inactive, oldestActiveHeartbeatAgeSeconds: age(oldestActive), longestInactiveSeconds: age(oldestInactive) };
}
