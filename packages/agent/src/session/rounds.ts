import type { Reaction } from '@cluster/protocol/agent-side';
import { hintedDelayMs, planRetry, type RetryOptions, type RetryPlan } from './backoff.js';

/** How one connection ended, as far as choosing the next master goes. */
export interface EndForRounds {
  reaction: Reaction;
  /** The master had welcomed this connection: a session was lost. */
  welcomed: boolean;
  /** How long the session was welcomed (0 if never). */
  connectedMs: number;
  /** The master closed with 4503: it is stopping, another one should take us at once. */
  shuttingDown: boolean;
  /** The master refused with a Retry-After (it is starting): how long it asked us to wait. */
  retryAfterMs?: number | undefined;
}

export interface NextTry extends RetryPlan {
  /** The URL to try after the delay. */
  url: string;
}

/**
 * The masters an agent knows, tried in rounds, in an order of its own: a
 * random permutation of the list, drawn once. It starts at the first of its
 * order (a random one, so that a fleet given the same list spreads over it)
 * and after any end moves to the next of its order. Each agent's own order
 * matters when a master dies: its agents move to their own next masters,
 * spread over the survivors, instead of all onto the one after it in the
 * list. The backoff applies to a whole round of the list, not to each URL: a
 * connection that fails before the welcome moves on at once until every
 * master of the round was tried, then the round's backoff delay follows. So
 * with every master down the attempts per minute stay within the
 * single-master bound times the list's length, and with one master alive the
 * agent is admitted within one round.
 */
export interface MasterRounds {
  readonly url: string;
  next(end: EndForRounds): NextTry;
}

export function createMasterRounds(urls: readonly string[], retry: RetryOptions, random: () => number): MasterRounds {
  if (urls.length === 0) throw new Error('at least one master URL is needed');
  const order = shuffled(urls, random);
  let index = 0;
  /** Failed tries in the current round (connections that ended before a welcome). */
  let tries = 0;
  /** Rounds that failed in a row: the backoff's exponent. */
  let attempt = 0;

  function moveOn(): string {
    index = (index + 1) % order.length;
    return order[index] as string;
  }

  return {
    get url() {
      return order[index] as string;
    },
    next(end) {
      const url = moveOn();
      if (end.welcomed) {
        tries = 0;
        if (end.shuttingDown && end.reaction === 'retry') {
          // The master asked us to go: the next one at once, spread over the
          // base window so that its whole fleet does not arrive together.
          return { url, delayMs: Math.floor(random() * retry.baseMs), attempt, slow: false };
        }
        const plan = planRetry({ attempt, reaction: end.reaction, connectedMs: end.connectedMs }, retry, random);
        attempt = plan.attempt;
        return { url, ...plan };
      }
      tries += 1;
      if (end.reaction === 'retry' && tries < urls.length) return { url, delayMs: 0, attempt, slow: false };
      // The round is over (or only an admin can fix the refusal): back off once for all of it.
      tries = 0;
      if (end.reaction === 'retry' && end.retryAfterMs !== undefined) {
        // The last master of the round is starting and said when it can admit: wait that long, the backoff not grown.
        return { url, delayMs: hintedDelayMs(end.retryAfterMs, retry, random), attempt, slow: false };
      }
      const plan = planRetry({ attempt, reaction: end.reaction, connectedMs: 0 }, retry, random);
      attempt = plan.attempt;
      return { url, ...plan };
    },
  };
}

/** Fisher-Yates: every order equally likely (one draw per position but the first). */
function shuffled(urls: readonly string[], random: () => number): string[] {
  const order = [...urls];
  for (let i = order.length - 1; i > 0; i -= 1) {
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    [order[i], order[j]] = [order[j] as string, order[i] as string];
  }
  return order;
}
