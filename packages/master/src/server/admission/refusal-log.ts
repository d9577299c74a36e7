import type { IncomingHttpHeaders } from 'node:http';
import { HEADERS } from '@cluster/protocol';
import type { Logger } from 'pino';
import type { HttpRefusalReason, MasterMetrics, RefusalReason } from '../../metrics/metrics.js';
import { printableForLog } from '../../printable.js';
import type { Refusal } from './decision.js';
import type { Clock } from '../clock.js';
import { LogBudget } from './log-budget.js';

/** A request turned away before it became an upgrade (see HttpRefusalReason). */
export interface HttpRefusal {
  reason: HttpRefusalReason;
  /** What was answered; undefined when the connection was dropped without an answer. */
  status: number | undefined;
  /** The peer's address. */
  address: string | undefined;
  method?: string | undefined;
  /** Node's error code (HPE_HEADER_OVERFLOW, ERR_HTTP_REQUEST_TIMEOUT, ERR_TLS_HANDSHAKE_TIMEOUT …). */
  code?: string | undefined;
  /** The request path; logged escaped and bounded. */
  path?: string | undefined;
  /** What went wrong in words, where Node's code alone would puzzle an operator (the log line's message). */
  message?: string | undefined;
}

export interface RefusalLogOptions {
  logger: Logger;
  metrics: MasterMetrics;
  clock: Clock;
  /** Most lines per reason per second; the rest are counted and summed up (0: every line). */
  linesPerSecond: number;
  /** A refusal that names a worker (its id passed validation): the worker history's hook. */
  onWorkerRefused?: (workerId: string, reason: RefusalReason, address: string | undefined) => void;
}

/**
 * Every refusal is counted (cluster_master_refusals_total for upgrades,
 * cluster_master_http_refusals_total for what never became one) and logged
 * at warn with the peer's address and the reason, because an operator
 * following the journal must be able to tell why an agent or a scanner got
 * nowhere. A peer can cause these at will, so the lines are capped per reason
 * per second (LogBudget) and what is left out is summed up in one line; a peer
 * resetting its own connection is logged at debug only, since nothing was
 * refused. Peer-supplied text is escaped and bounded.
 */
export class RefusalLog {
  readonly #budget: LogBudget;

  constructor(private readonly options: RefusalLogOptions) {
    this.#budget = new LogBudget({
      perWindow: options.linesPerSecond,
      windowMs: 1_000,
      clock: options.clock,
      onSuppressed: (key, count) => {
        const [kind, reason] = key.split(':');
        options.logger.warn({ kind, reason, suppressed: count }, 'refusals not logged (log rate limit)');
      },
    });
  }

  /** An upgrade on the agent path (or a stray one) refused with an HTTP status. */
  upgrade(refusal: Refusal, headers: IncomingHttpHeaders, address: string | undefined): void {
    this.options.metrics.refusals.inc({ reason: refusal.metric });
    if (refusal.workerId !== undefined) this.options.onWorkerRefused?.(refusal.workerId, refusal.metric, address);
    if (!this.#budget.allow(`upgrade:${refusal.metric}`)) return;
    this.options.logger.warn(
      {
        worker_id: refusal.workerId,
        // Only once the id passed validation is it logged as an id; before that, escaped and bounded.
        worker_id_given: refusal.workerId === undefined ? printableForLog(headers[HEADERS.workerId]) : undefined,
        address,
        status: refusal.status,
        reason: refusal.reason,
      },
      'refused',
    );
  }

  http(refusal: HttpRefusal): void {
    this.options.metrics.httpRefusals.inc({ reason: refusal.reason });
    if (!this.#budget.allow(`http:${refusal.reason}`)) return;
    const fields = {
      address: refusal.address,
      reason: refusal.reason,
      status: refusal.status,
      method: refusal.method,
      code: refusal.code,
      path: printableForLog(refusal.path),
    };
    if (refusal.reason === 'reset') this.options.logger.debug(fields, 'http request dropped: connection reset by peer');
    else this.options.logger.warn(fields, refusal.message ?? 'http request refused');
  }

  /** Reports what the rate limit left out. */
  close(): void {
    this.#budget.flush();
  }
}
