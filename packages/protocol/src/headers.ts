import { tokenAfterScheme } from './token-shape.js';

/**
 * Admission happens at the HTTP upgrade, before a WebSocket exists. These are
 * the request headers the agent sends and the master reads (lower case, as
 * Node's `IncomingMessage.headers` presents them).
 */
export const HEADERS = {
  workerId: 'x-worker-id',
  protocolVersion: 'x-protocol-version',
  /** `Authorization: Bearer <token>`; the token is the worker's own credential. */
  authorization: 'authorization',
} as const;

export function bearer(token: string): string {
  return `Bearer ${token}`;
}

/** Returns the token of a `Bearer <token>` header value, or undefined. */
export function parseBearer(value: string | undefined): string | undefined {
  return tokenAfterScheme('Bearer', value);
}

/**
 * The master's one answer (401) to an upgrade whose worker id it does not
 * know or whose token is wrong: the same words for both, so that nobody can
 * learn which ids exist by trying them. The master's log says which it was.
 */
export const NOT_ADMITTED = 'unknown worker or invalid token';
