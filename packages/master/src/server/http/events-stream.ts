import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { LogBudget } from '../admission/log-budget.js';
import type { AdminTokenStore } from '../../registry/admin-token-store.js';
import { UNAUTHORIZED_BODY, UNAUTHORIZED_HEADERS, authenticateAdmin, bearerOf } from './admin-auth.js';
import type { RouteHandler } from './fleet-api.js';
import type { FleetFeed, FleetSnapshot } from './fleet-feed.js';
import { SECURITY_HEADERS, safeJson, sendText } from './respond.js';
import { every, type Clock } from '../clock.js';

export const EVENTS_PATH = '/api/events';

export interface EventsStreamDeps {
  adminTokens: Pick<AdminTokenStore, 'verify'>;
  feed: FleetFeed;
  logger: Logger;
  /** Bounds the lines of refused credentials. */
  refusalBudget?: Pick<LogBudget, 'allow'>;
  /** Credential of a request other than a Bearer header (the page's session cookie); undefined: none. */
  credentialOf?: (req: IncomingMessage) => string | undefined;
  clock: Clock;
  /** A comment line this often on each stream (a proxy's idle timeout must not close a quiet one). */
  keepaliveMs: number;
}

/** An SSE comment: ignored by EventSource, but bytes on the wire. */
export const KEEPALIVE = ': keepalive\n\n';

/** One `fleet` event: the whole registry, as `/api/workers` gives it, and the master's time. */
export function fleetEvent(snapshot: FleetSnapshot): string {
  return `event: fleet\ndata: ${safeJson({ now: snapshot.at, workers: snapshot.workers })}\n\n`;
}

/**
 * `GET /api/events`: Server-Sent Events of the fleet. Each stream is a
 * listener of the one shared feed, so a hundred open pages cost the database
 * what one does.
 */
export function createEventsStream(deps: EventsStreamDeps): RouteHandler {
  const open = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const auth = await authenticateAdmin(req, deps.adminTokens, deps.logger, bearerOf(req) ?? deps.credentialOf?.(req), deps.refusalBudget);
    if (!auth.ok) {
      if (auth.status === 401) sendText(res, 401, UNAUTHORIZED_BODY, UNAUTHORIZED_HEADERS);
      else sendText(res, 503, 'database unavailable\n');
      return;
    }
    if (req.socket.destroyed) return;
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    // The browser reconnects by itself 2 s after the master restarts or the stream drops.
    res.write('retry: 2000\n\n');
    const unsubscribe = deps.feed.subscribe((snapshot) => res.write(fleetEvent(snapshot)));
    const stopKeepalive = every(deps.clock, deps.keepaliveMs, () => res.write(KEEPALIVE));
    res.on('close', () => {
      unsubscribe();
      stopKeepalive();
    });
  };
  return (req, res, path) => {
    if (path !== EVENTS_PATH) return false;
    if (req.method !== 'GET') {
      sendText(res, 405, 'method not allowed\n', { Allow: 'GET' });
      return true;
    }
    open(req, res).catch((error: unknown) => {
      deps.logger.error({ error: error instanceof Error ? error.message : String(error) }, 'event stream failed');
      res.destroy();
    });
    return true;
  };
}
