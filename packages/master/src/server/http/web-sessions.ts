import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const SESSION_COOKIE = 'cm_session';
/** A browser session lasts a working day; then the page asks for the token again. */
export const SESSION_TTL_MS = 12 * 3_600_000;

/** A signed-in browser: its session id (the cookie) and the id of the admin token it signed in with. */
export interface WebSession {
  sessionId: string;
  tokenId: string;
}

/**
 * The page's sessions, in the master's memory: a random id in an HttpOnly
 * cookie stands for the admin token given at sign-in. The session keeps that
 * token's id, never the token: a heap dump holds no credential. Each request
 * still checks that the token is live, so revoking it ends its sessions too.
 * A master restart signs everyone out, which is fine for a status page.
 */
export class WebSessions {
  readonly #sessions = new Map<string, { tokenId: string; expiresAtMs: number }>();

  constructor(private readonly now: () => number) {}

  create(tokenId: string): string {
    this.#prune();
    const id = randomBytes(32).toString('base64url');
    this.#sessions.set(id, { tokenId, expiresAtMs: this.now() + SESSION_TTL_MS });
    return id;
  }

  end(req: IncomingMessage): void {
    const id = sessionIdOf(req);
    if (id !== undefined) this.#sessions.delete(id);
  }

  /** The live session behind the request's cookie, or undefined. */
  of(req: IncomingMessage): WebSession | undefined {
    const id = sessionIdOf(req);
    return id === undefined ? undefined : this.get(id);
  }

  /** The session with this id while it lasts (signed out or expired: undefined). */
  get(sessionId: string): WebSession | undefined {
    const session = this.#sessions.get(sessionId);
    if (session === undefined) return undefined;
    if (session.expiresAtMs <= this.now()) {
      this.#sessions.delete(sessionId);
      return undefined;
    }
    return { sessionId, tokenId: session.tokenId };
  }

  #prune(): void {
    const now = this.now();
    for (const [id, session] of this.#sessions) if (session.expiresAtMs <= now) this.#sessions.delete(id);
  }
}

export function sessionIdOf(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const [name, value] = part.trim().split('=', 2);
    if (name === SESSION_COOKIE && value !== undefined && /^[A-Za-z0-9_-]{43}$/.test(value)) return value;
  }
  return undefined;
}

export function sessionCookie(id: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}${secure ? '; Secure' : ''}`;
}

export function clearedCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
}
