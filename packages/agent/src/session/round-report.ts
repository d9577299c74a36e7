import type { Logger } from 'pino';
import type { NextTry } from './rounds.js';

/** A try of the round that got no connection at all (refused, no route, DNS, TLS): said in the round's line. */
export interface Unreached {
  url: string;
  /** Why, in words. */
  error: string;
  error_code?: string;
  advice?: string;
}

/**
 * The one line a round of the master list ends with at info or above. With
 * every master down, each try's failure is only a debug line (`connect-failed`)
 * and this line says them all: which masters were tried, why each failed,
 * and when the next round starts. So a long outage costs one line per round,
 * not one per master and one more for the wait.
 */
export function logRoundEnd(log: Logger, plan: NextTry, unreached: readonly Unreached[]): void {
  const fields = { event: 'retry', delay_ms: plan.delayMs, attempt: plan.attempt, slow: plan.slow, url: plan.url };
  const wait = `${(plan.delayMs / 1000).toFixed(1)} s`;
  if (unreached.length === 0) {
    log.info(fields, `next retry in ${wait}`);
    return;
  }
  const advice = unreached.find((u) => u.advice !== undefined)?.advice;
  const last = unreached[unreached.length - 1] as Unreached;
  const detail = { ...fields, tried: unreached.map(({ url, error, error_code }) => ({ url, error, ...(error_code === undefined ? {} : { error_code }) })), error: last.error, ...(advice === undefined ? {} : { advice }) };
  const msg =
    unreached.length === 1
      ? `cannot connect to the master ${last.url}: ${last.error}; next try in ${wait}`
      : `cannot connect to any of ${unreached.length} masters (${unreached.map((u) => `${u.url}: ${u.error}`).join('; ')}); next round in ${wait}`;
  log.warn(detail, msg);
}

/**
 * Masters of a round that could not be reached before another one admitted
 * the agent: said once, after the admission, so a dead master in the list
 * shows at warn even when the agent did not have to wait for it.
 */
export function logUnreachedBeforeAdmission(log: Logger, admittedBy: string, unreached: readonly Unreached[]): void {
  if (unreached.length === 0) return;
  log.warn(
    { event: 'connect-failed', url: admittedBy, tried: unreached.map(({ url, error }) => ({ url, error })) },
    `admitted by ${admittedBy} after ${unreached.map((u) => `${u.url} (${u.error})`).join(', ')} could not be reached`,
  );
}
