import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const SESSION_COOKIE = 'cm_session';
/** A browser session lasts a working day; then the page asks for the token again. */
export const SESSION_TTL_MS = 12 * 3_600_000;

/**
 * The page's sessions, in the master's memory: a random id in an HttpOnly
 * cookie stands for the admin token given at sign-in. Each request still
 * checks that token against the database, so revoking it ends its sessions
 * too. A master restart signs everyone out, which is fine for a status page.
 */
export class WebSessions {
  readonly #sessions = new Map<string, { token: string; expiresAtMs: number }>();

  constructor(private readonly now: () => number) {}

  create(token: string): string {
    this.#prune();
    const id = randomBytes(32).toString('base64url');
    this.#sessions.set(id, { token, expiresAtMs: this.now() + SESSION_TTL_MS });
    return id;
  }

  end(req: IncomingMessage): void {
    const id = sessionIdOf(req);
    if (id !== undefined) this.#sessions.delete(id);
  }

  /** The admin token behind the request's session cookie, or undefined. */
  tokenOf(req: IncomingMessage): string | undefined {
    const id = sessionIdOf(req);
    const session = id === undefined ? undefined : this.#sessions.get(id);
    if (session === undefined || id === undefined) return undefined;
    if (session.expiresAtMs <= this.now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return session.token;
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
