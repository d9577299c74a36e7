import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { AdminTokenStore } from '../../registry/admin-token-store.js';
import type { LogBudget } from '../admission/log-budget.js';
import { addressOf } from '../admission/upgrade.js';

export type AdminAuth = { ok: true; tokenId: string } | { ok: false; status: 401 | 503 };

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
  store: Pick<AdminTokenStore, 'verify'>,
  logger: Logger,
  presented: string | undefined = bearerOf(req),
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
    tokenId = await store.verify(presented);
  } catch (error) {
    logger.warn({ ...where, error: error instanceof Error ? error.message : String(error) }, 'admin credential not checked: database unavailable');
    return { ok: false, status: 503 };
  }
  if (tokenId === null) {
    refused({ ...where, reason: 'wrong or revoked credential' });
    return { ok: false, status: 401 };
  }
  return { ok: true, tokenId };
}
