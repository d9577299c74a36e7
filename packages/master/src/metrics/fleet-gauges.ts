import { Gauge, type Registry as MetricsRegistry } from 'prom-client';
import type { FleetState } from '../server/http/fleet-state.js';

/** What the gauges read at scrape time: the fleet feed the page uses. */
export interface FleetStateSource {
  stateForScrape(maxAgeMs: number, waitMs: number): Promise<{ state: FleetState; ageMs: number } | undefined>;
}

export interface FleetGaugeOptions {
  /** A read no older than this is reused (pages open, another scrape just now): scrapes add at most one read per this. */
  maxAgeMs: number;
  /** How long a scrape waits for a fresh read before reporting the last one (Prometheus's own timeout is 10 s). */
  waitMs: number;
}

export const FLEET_GAUGE_DEFAULTS: FleetGaugeOptions = { maxAgeMs: 60_000, waitMs: 2_000 };

/**
 * The registry's own state, the same from every master (they read one
 * database): workers by state, the oldest heartbeat among active workers, the
 * longest-silent inactive worker, and how old the read behind them is. Read at
 * scrape time from the fleet feed, so a master with no page open and no
 * Prometheus reads nothing; before the first successful read nothing is set.
 */
export function registerFleetGauges(registry: MetricsRegistry, source: FleetStateSource, options: FleetGaugeOptions = FLEET_GAUGE_DEFAULTS): void {
  const registers = [registry];
  // prom-client starts every gauge's collect of one scrape together: they share one answer (the
  // feed's view is the whole fleet, O(workers) to count; once a scrape, not once a gauge).
  let inFlight: ReturnType<FleetStateSource['stateForScrape']> | undefined;
  const read = (): ReturnType<FleetStateSource['stateForScrape']> => {
    inFlight ??= source.stateForScrape(options.maxAgeMs, options.waitMs).finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
  new Gauge({
    name: 'cluster_master_registry_workers',
    help: 'Workers in the registry (all masters share it), by state (active, inactive); their sum is the workers registered',
    labelNames: ['state'],
    registers,
    async collect() {
      const got = await read();
      if (got === undefined) return;
      this.set({ state: 'active' }, got.state.active);
      this.set({ state: 'inactive' }, got.state.inactive);
    },
  });
  new Gauge({
    name: 'cluster_master_registry_oldest_active_heartbeat_age_seconds',
    help: 'Seconds since the oldest last_heartbeat among active workers (0 when none is active): heartbeat writes lagging',
    registers,
    async collect() {
      const got = await read();
      if (got !== undefined) this.set(got.state.oldestActiveHeartbeatAgeSeconds);
    },
  });
  new Gauge({
    name: 'cluster_master_registry_longest_inactive_seconds',
    help: 'Seconds since the last heartbeat of the inactive worker silent longest (0 when none is inactive)',
    registers,
    async collect() {
      const got = await read();
      if (got !== undefined) this.set(got.state.longestInactiveSeconds);
    },
  });
  new Gauge({
    name: 'cluster_master_registry_read_age_seconds',
    help: 'Age of the registry read behind the cluster_master_registry_* gauges (grows while the database cannot be read)',
    registers,
    async collect() {
      const got = await read();
      if (got !== undefined) this.set(got.ageMs / 1000);
    },
  });
}
