import type { IncomingMessage, ServerResponse } from 'node:http';
import { hashToken } from '../../registry/token.js';
import type { FailureLimit } from '../admission/failure-limit.js';
import { sendText } from './respond.js';
import type { Logger } from 'pino';
import type { AdminTokenStore } from '../../registry/admin-token-store.js';
import type { LogBudget } from '../admission/log-budget.js';
import { addressOf } from '../admission/upgrade.js';
import type { WebSession } from './web-sessions.js';

export type AdminAuth = { ok: true; tokenId: string; /** Set when the credential was a web session. */ sessionId?: string } | { ok: false; status: 401 | 429 | 503 };

/**
 * Failed admin authentications, per address and in total (FailureLimit), and
 * the tokens that passed lately: while failures flood in from everywhere, only
 * those are still looked up, so guessed tokens stop costing database reads.
 *
 * A token not seen to pass counts as a failure while its lookup is in flight:
 * the check comes before the database read and the failure is recorded after
 * it, so without that a burst of parallel guesses from one address would all
 * be looked up before the first was counted (50 at once got 46 reads past a
 * limit of 30).
 */
export class AdminAuthLimit {
  readonly #passed = new Set<string>();
  readonly #unsettled = new Map<string, number>();
  #unsettledTotal = 0;
  constructor(readonly failures: FailureLimit, private readonly maxRemembered = 1_000) {}

  passed(token: string): void {
    if (this.#passed.size >= this.maxRemembered) this.#passed.clear();
    this.#passed.add(hashToken(token));
  }

  /**
   * Whether this credential may cost a database read now. When it may and is
   * a token not seen to pass, it is counted as a failure until the returned
   * `settle` runs (call it once the lookup ended, whatever its outcome).
   */
  begin(address: string | undefined, credential: AdminCredential): { ok: false } | { ok: true; settle: () => void } {
    const proven = typeof credential !== 'string' || this.#passed.has(hashToken(credential));
    const key = address ?? '';
    const inFlight = this.#unsettled.get(key) ?? 0;
    if (this.failures.blocked(address, inFlight)) return { ok: false };
    if (proven) return { ok: true, settle: () => undefined };
    if (this.failures.saturatedWith(this.#unsettledTotal)) return { ok: false };
    this.#unsettled.set(key, inFlight + 1);
    this.#unsettledTotal += 1;
    let settled = false;
    return {
      ok: true,
      settle: () => {
        if (settled) return;
        settled = true;
        this.#unsettledTotal -= 1;
        const left = (this.#unsettled.get(key) ?? 1) - 1;
        if (left === 0) this.#unsettled.delete(key);
        else this.#unsettled.set(key, left);
      },
    };
  }
}

/** The answer to a refused admin credential (the same for every reason it was refused). */
export function sendAuthRefusal(res: ServerResponse, status: 401 | 429 | 503): void {
  if (status === 401) sendText(res, 401, UNAUTHORIZED_BODY, UNAUTHORIZED_HEADERS);
  else if (status === 429) sendText(res, 429, TOO_MANY_FAILURES, { 'Retry-After': '10' });
  else sendText(res, 503, 'database unavailable\n');
}

export const TOO_MANY_FAILURES = 'too many refused credentials; try again later\n';

/** What a request presents: a token (Bearer header, sign-in form) or the page's session. */
export type AdminCredential = string | WebSession;

/** The one answer to every refused credential: it says nothing of what exists. */
export const UNAUTHORIZED_HEADERS = { 'WWW-Authenticate': 'Bearer realm="cluster-master"' } as const;
/** Its body: how to get a credential (the same words whatever was wrong). */
export const UNAUTHORIZED_BODY = 'unauthorized: send an admin token as "Authorization: Bearer TOKEN"; `cluster-master admin token` on the master issues one\n';

/** `Authorization: Bearer <token>` → the token; anything else → undefined. */
export function bearerOf(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer +([^\s]+) *$/i.exec(header);
  return match?.[1];
}

/**
 * Checks the admin credential of a request. Missing, malformed, wrong and
 * revoked credentials all get the same 401; the log line says which of
 * missing or refused it was and from where, never the token.
 */
export async function authenticateAdmin(
  req: IncomingMessage,
  store: Pick<AdminTokenStore, 'verify' | 'isLive'>,
  logger: Logger,
  presented: AdminCredential | undefined = bearerOf(req),
  /** Bounds the refusal lines, so a flood of guesses cannot flood the log (left-out lines are counted). */
  budget?: Pick<LogBudget, 'allow'>,
  /** Bounds the failures, and the database reads they cost. */
  limit?: AdminAuthLimit,
): Promise<AdminAuth> {
  const refused = (fields: Record<string, unknown>): void => {
    if (budget === undefined || budget.allow('admin_refused')) logger.warn(fields, 'admin request refused');
  };
  const where = { address: addressOf(req.socket), path: (req.url ?? '/').split('?')[0] };
  if (presented === undefined) {
    const reason = req.headers.authorization === undefined ? 'no credential' : 'malformed credential';
    refused({ ...where, reason });
    return { ok: false, status: 401 };
  }
  const lookup = limit?.begin(where.address, presented) ?? { ok: true, settle: () => undefined };
  if (!lookup.ok) {
    refused({ ...where, reason: 'too many refused credentials' });
    return { ok: false, status: 429 };
  }
  let tokenId: string | null;
  try {
    if (typeof presented === 'string') tokenId = await store.verify(presented);
    else tokenId = (await store.isLive(presented.tokenId)) ? presented.tokenId : null;
  } catch (error) {
    logger.warn({ ...where, error: error instanceof Error ? error.message : String(error) }, 'admin credential not checked: database unavailable');
    return { ok: false, status: 503 };
  } finally {
    lookup.settle();
  }
  if (tokenId === null) {
    limit?.failures.record(where.address);
    refused({ ...where, reason: 'wrong or revoked credential' });
    return { ok: false, status: 401 };
  }
  if (typeof presented === 'string') limit?.passed(presented);
  return typeof presented === 'string' ? { ok: true, tokenId } : { ok: true, tokenId, sessionId: presented.sessionId };
}
