import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { LogBudget } from '../admission/log-budget.js';
import type { AdminTokenStore } from '../../registry/admin-token-store.js';
import { isValidWorkerId } from '@cluster/protocol';
import { EventFilterError, parseKinds, parseSince } from '../../history/event-filter.js';
import type { WorkerEventStore } from '../../history/event-store.js';
import { workerEventToJson } from '../../history/worker-event.js';
import type { Clock } from '../clock.js';
import { authenticateAdmin, bearerOf, sendAuthRefusal, type AdminAuthLimit } from './admin-auth.js';
import type { RouteHandler } from './fleet-api.js';
import { sendJson, sendText } from './respond.js';
import type { WebSession } from './web-sessions.js';

export const WORKER_EVENTS_PATH = '/api/worker-events';
/** Most events one request returns (the newest of them). */
export const MAX_EVENTS_PER_REQUEST = 1_000;

export interface WorkerEventsApiDeps {
  adminTokens: Pick<AdminTokenStore, 'verify' | 'isLive'>;
  events: Pick<WorkerEventStore, 'find'>;
  clock: Pick<Clock, 'now'>;
  logger: Logger;
  refusalBudget?: Pick<LogBudget, 'allow'>;
  authLimit?: AdminAuthLimit;
  sessionOf?: (req: IncomingMessage) => WebSession | undefined;
}

/**
 * `GET /api/worker-events?worker=ID&since=2h&kind=a,b&limit=N`: the workers'
 * history (`cluster-master worker events`), oldest first, behind an admin
 * token or the page's session, like /api/workers.
 */
export function createWorkerEventsApi(deps: WorkerEventsApiDeps): RouteHandler {
  const { logger } = deps;
  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const auth = await authenticateAdmin(req, deps.adminTokens, logger, bearerOf(req) ?? deps.sessionOf?.(req), deps.refusalBudget, deps.authLimit);
    if (!auth.ok) {
      sendAuthRefusal(res, auth.status);
      return;
    }
    const params = new URL(req.url ?? '/', 'http://master.invalid').searchParams;
    let query;
    try {
      query = queryOf(params, deps.clock.now());
    } catch (error) {
      if (error instanceof EventFilterError) {
        sendText(res, 400, `${error.message}\n`);
        return;
      }
      throw error;
    }
    try {
      sendJson(res, 200, (await deps.events.find(query)).map(workerEventToJson));
    } catch (error) {
      logger.warn({ path: WORKER_EVENTS_PATH, error: error instanceof Error ? error.message : String(error) }, 'admin API request failed');
      sendText(res, 503, 'database unavailable\n');
    }
  };
  return (req, res, path) => {
    if (path !== WORKER_EVENTS_PATH) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
      return true;
    }
    answer(req, res).catch((error: unknown) => {
      logger.error({ path, error: error instanceof Error ? error.message : String(error) }, 'admin API request failed');
      if (!res.headersSent) sendText(res, 500, 'internal error\n');
      else res.destroy();
    });
    return true;
  };
}

function queryOf(params: URLSearchParams, nowMs: number): Parameters<WorkerEventStore['find']>[0] {
  const worker = params.get('worker');
  if (worker !== null && !isValidWorkerId(worker)) throw new EventFilterError('worker must be a valid worker id');
  const since = params.get('since');
  const limitText = params.get('limit');
  const limit = limitText === null ? 100 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EVENTS_PER_REQUEST) {
    throw new EventFilterError(`limit must be a whole number from 1 to ${MAX_EVENTS_PER_REQUEST}`);
  }
  return {
    workerId: worker ?? undefined,
    since: since === null ? undefined : parseSince(since, nowMs),
    kinds: params.getAll('kind').length === 0 ? undefined : parseKinds(params.getAll('kind')),
    limit,
  };
}
