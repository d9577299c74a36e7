import { readFileSync } from 'node:fs';
import { PACKAGE_ROOT } from '../../package-root.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { LogBudget } from '../admission/log-budget.js';
import type { AdminTokenStore } from '../../registry/admin-token-store.js';
import { authenticateAdmin, TOO_MANY_FAILURES, type AdminAuthLimit } from './admin-auth.js';
import type { RouteHandler } from './fleet-api.js';
import { readBody } from './request-body.js';
import { SECURITY_HEADERS, sendText } from './respond.js';
import { clearedCookie, sessionCookie, type WebSessions } from './web-sessions.js';

/** The page's files: web/ in the package's root, beside src/ and dist/ (and in the installed package). */
const WEB_DIR = new URL('web/', PACKAGE_ROOT);

const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

const LOGIN_FAILED = '<p class="error" role="alert">That token was not accepted.</p>';

export interface WebPageDeps {
  adminTokens: Pick<AdminTokenStore, 'verify' | 'isLive'>;
  sessions: WebSessions;
  logger: Logger;
  /** Bounds the lines of refused credentials. */
  refusalBudget?: Pick<LogBudget, 'allow'>;
  /** Bounds failed credentials per address and in total, and the database reads they cost. */
  authLimit?: AdminAuthLimit;
  secure: boolean;
  /** Largest form body read (bytes); a larger one is answered 413 (request-body.ts). */
  maxBodyBytes: number;
}

function readWeb(file: string): Buffer {
  return readFileSync(new URL(file, WEB_DIR));
}

function send(res: ServerResponse, status: number, body: Buffer | string, type: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, ...headers });
  res.end(body);
}

/**
 * A form posted from another site's page: a sign-in there would put the
 * attacker's session in this admin's browser, a sign-out would end the
 * admin's. The cookie's SameSite=Strict already keeps the admin's own session
 * out of such requests; this refuses the request itself. Browsers say where a
 * request comes from in Sec-Fetch-Site; the Origin is the fallback for those
 * that do not (our Referrer-Policy: no-referrer makes the page's own forms
 * send Origin "null", so "null" alone proves nothing). A request with neither
 * (curl) is not a browser's cross-site form and passes.
 */
export function crossSite(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

/** The form's fields; undefined when the body was refused (413 sent) or the request failed. */
async function readForm(req: IncomingMessage, res: ServerResponse, limitBytes: number): Promise<URLSearchParams | undefined> {
  const body = await readBody(req, res, limitBytes);
  return body === undefined ? undefined : new URLSearchParams(body.toString('utf8'));
}

/**
 * `GET /`: the fleet page for a signed-in browser, else the sign-in form;
 * `POST /login` and `POST /logout`; the page's script and style sheet. The
 * files are read once, at start.
 */
export function createWebPage(deps: WebPageDeps): RouteHandler {
  const index = readWeb('index.html');
  const login = readWeb('login.html').toString('utf8');
  const assets = new Map(Object.entries(ASSETS).map(([path, asset]) => [path, { body: readWeb(asset.file), type: asset.type }]));
  const html = 'text/html; charset=utf-8';

  const signIn = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const form = await readForm(req, res, deps.maxBodyBytes);
    // Refused as too large (answered), or the request failed (nobody to answer).
    if (form === undefined) return;
    const token = form.get('token')?.trim() ?? '';
    const auth = await authenticateAdmin(req, deps.adminTokens, deps.logger, token, deps.refusalBudget, deps.authLimit);
    if (!auth.ok) {
      const words = { 401: LOGIN_FAILED, 429: `<p class="error" role="alert">${TOO_MANY_FAILURES.trim()}.</p>`, 503: '<p class="error" role="alert">The database is unavailable; try again.</p>' }[auth.status];
      send(res, auth.status, login.replace('<!--status-->', words), html);
      return;
    }
    deps.logger.info({ token_id: auth.tokenId }, 'admin signed in to the page');
    res.writeHead(303, { ...SECURITY_HEADERS, Location: '/', 'Set-Cookie': sessionCookie(deps.sessions.create(auth.tokenId), deps.secure) });
    res.end();
  };

  const page = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const session = deps.sessions.of(req);
    const live = session !== undefined && (await deps.adminTokens.isLive(session.tokenId).catch(() => false));
    send(res, 200, live ? index : login, html);
  };

  return (req, res, path) => {
    const asset = assets.get(path);
    if (asset !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
      send(res, 200, asset.body, asset.type, { 'Cache-Control': 'no-cache' });
      return true;
    }
    const fail = (error: unknown): void => {
      deps.logger.error({ path, error: error instanceof Error ? error.message : String(error) }, 'page request failed');
      if (!res.headersSent) sendText(res, 500, 'internal error\n');
    };
    if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      page(req, res).catch(fail);
      return true;
    }
    if ((path === '/login' || path === '/logout') && req.method === 'POST' && crossSite(req)) {
      deps.logger.warn({ path, origin: String(req.headers.origin).slice(0, 200), remote: req.socket.remoteAddress }, 'cross-site form refused');
      sendText(res, 403, 'cross-site form refused\n');
      return true;
    }
    if (path === '/login' && req.method === 'POST') {
      signIn(req, res).catch(fail);
      return true;
    }
    if (path === '/logout' && req.method === 'POST') {
      deps.sessions.end(req);
      res.writeHead(303, { ...SECURITY_HEADERS, Location: '/', 'Set-Cookie': clearedCookie(deps.secure) });
      res.end();
      return true;
    }
    return false;
  };
}
