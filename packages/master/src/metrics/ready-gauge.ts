import { Gauge, type Registry as MetricsRegistry } from 'prom-client';

/**
 * `cluster_master_ready`: 1 while /readyz would answer 200, 0 otherwise, read
 * at scrape time. A master that answers /metrics (`up` 1) but cannot reach its
 * database serves nobody; the "no master serving" alert counts this, not `up`.
 */
export function registerReadyGauge(registry: MetricsRegistry, notReadyReason: () => string | null): void {
  new Gauge({
    name: 'cluster_master_ready',
    help: 'Whether this master is ready (1: /readyz answers 200; 0: loading, database unreachable, or shutting down)',
    registers: [registry],
    collect() {
      this.set(notReadyReason() === null ? 1 : 0);
    },
  });
}
