import type { DbOp, MasterMetrics } from '../../metrics/metrics.js';
import type { DbHealth } from '../db-health.js';

export interface WriteOutcomesOptions {
  metrics: MasterMetrics;
  health: DbHealth;
  /** The delay before the next try after `failures` failures in a row; undefined when none will follow. */
  nextRetryMs(failures: number): number | undefined;
}

/**
 * The write loop's database writes, timed and counted: each reports to
 * DbHealth, and failures in a row are counted for the loop's backoff.
 */
export class WriteOutcomes {
  /** Failures since the last successful cycle. */
  failures = 0;

  constructor(private readonly options: WriteOutcomesOptions) {}

  async write<T>(op: DbOp, fn: () => Promise<T>): Promise<T> {
    const end = this.options.metrics.dbWriteDuration.startTimer({ op });
    try {
      const result = await fn();
      end();
      this.options.health.success(op);
      return result;
    } catch (error) {
      end();
      this.options.metrics.dbWriteErrors.inc({ op });
      this.failed(op, error);
      throw error;
    }
  }

  /** A failure of the database (the retry delay logged is the next cycle's). */
  failed(op: DbOp, error: unknown): void {
    this.failures += 1;
    this.options.health.failure(op, error, this.options.nextRetryMs(this.failures));
  }
}
