import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { AdminTokenStore } from '../../registry/admin-token-store.js';
import type { LogBudget } from '../admission/log-budget.js';
import { addressOf } from '../admission/upgrade.js';
import type { WebSession } from './web-sessions.js';

export type AdminAuth = { ok: true; tokenId: string; /** Set when the credential was a web session. */ sessionId?: string } | { ok: false; status: 401 | 503 };

/** What a request presents: a token (Bearer header, sign-in form) or the page's session. */
export type AdminCredential = string | WebSession;

/** The one answer to every refused credential: it says nothing of what exists. */
export const UNAUTHORIZED_HEADERS = { 'WWW-Authenticate': 'Bearer realm="cluster-master"' } as const;

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
  let tokenId: string | null;
  try {
    if (typeof presented === 'string') tokenId = await store.verify(presented);
    else tokenId = (await store.isLive(presented.tokenId)) ? presented.tokenId : null;
  } catch (error) {
    logger.warn({ ...where, error: error instanceof Error ? error.message : String(error) }, 'admin credential not checked: database unavailable');
    return { ok: false, status: 503 };
  }
  if (tokenId === null) {
    refused({ ...where, reason: 'wrong or revoked credential' });
    return { ok: false, status: 401 };
  }
  return typeof presented === 'string' ? { ok: true, tokenId } : { ok: true, tokenId, sessionId: presented.sessionId };
}
