import { CloseCode, closeCodeName, reactionToClose, reactionToHttpStatus, type Reaction } from '@cluster/protocol/agent-side';
import type { Logger } from 'pino';
import { adviceForClose, adviceForStatus, explainConnectError, type AdviceContext } from './advice.js';
import type { Unreached } from './round-report.js';

/** How one connection ended, as the session saw it. */
export interface ConnectionEnd {
  /** The master refused the upgrade with this status and short reason, and the wait it asked for (Retry-After). */
  refusal: { status: number; reason: string; retryAfterMs?: number | undefined } | undefined;
  /** This side gave up on the connection (bad message, silent master, no welcome). */
  droppedBecause: string | undefined;
  /** True once the WebSocket was open. */
  opened: boolean;
  /** The socket's error, when it failed before opening. */
  error: { code?: string | undefined; message: string } | undefined;
  code: number;
  reason: string;
  connectedMs: number;
}

/**
 * Logs why a connection ended, once, and returns how to react. The advice
 * goes in its own `advice` field and not in `msg` too, so a terminal (where
 * pino-pretty prints both) shows it once.
 */
export function reportEnd(log: Logger, end: ConnectionEnd, ctx: AdviceContext): Reaction {
  const { code, reason, connectedMs } = end;
  if (end.refusal) {
    const { status, reason: why, retryAfterMs } = end.refusal;
    const reaction = reactionToHttpStatus(status);
    if (reaction === 'retry' && retryAfterMs !== undefined) {
      // A master that is starting (loading its registry): expected after its restart, nothing to advise.
      log.info(
        { event: 'refused', status, reason: why, retry_after_ms: retryAfterMs },
        `the master is not ready yet (HTTP ${status}${why ? `: ${why}` : ''}); it asked to retry in ${(retryAfterMs / 1000).toFixed(0)} s`,
      );
      return reaction;
    }
    log[reaction === 'retry' ? 'warn' : 'error'](
      { event: 'refused', status, reason: why, advice: adviceForStatus(status, why, ctx) },
      `the master refused this agent (HTTP ${status}${why ? `: ${why}` : ''})`,
    );
    return reaction;
  }
  if (end.droppedBecause !== undefined) {
    log.warn({ event: 'disconnected', code, reason: end.droppedBecause, connected_ms: connectedMs }, `disconnected from the master: ${end.droppedBecause}`);
    return 'retry';
  }
  const unreached = unreachedBy(end, ctx);
  if (unreached !== undefined) {
    // Not news on its own: the round's line (round-report.ts) says every master it could not reach.
    log.debug({ event: 'connect-failed', ...unreached }, `cannot connect to the master: ${unreached.error}`);
    return 'retry';
  }
  const fields = { event: 'disconnected', code, code_name: closeCodeName(code), reason, connected_ms: connectedMs };
  const advice = adviceForClose(code, ctx);
  if (advice !== undefined) {
    log.error({ ...fields, advice }, `the master closed the session (${code} ${closeCodeName(code)}${reason ? `: ${reason}` : ''})`);
  } else if (code === CloseCode.replaced) {
    log.warn(fields, `replaced by a newer connection for worker ${ctx.workerId}; if this repeats, two machines use the same worker id`);
  } else if (code === CloseCode.shuttingDown) {
    log.info(fields, 'the master is shutting down');
  } else {
    log.warn(fields, `disconnected from the master (${code} ${closeCodeName(code)}${reason ? `: ${reason}` : ''})`);
  }
  return reactionToClose(code);
}

/** The connection never opened and nobody answered (refused, no route, DNS, TLS): what the round's line says of it. */
export function unreachedBy(end: ConnectionEnd, ctx: AdviceContext): Unreached | undefined {
  if (end.opened || end.refusal !== undefined || end.droppedBecause !== undefined) return undefined;
  const error = end.error ?? { message: `closed with code ${end.code}` };
  const { words, advice } = explainConnectError(error, ctx);
  return { url: ctx.url, error: words, ...(error.code === undefined ? {} : { error_code: error.code }), ...(advice === undefined ? {} : { advice }) };
}
