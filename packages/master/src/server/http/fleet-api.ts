import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { LogBudget } from '../admission/log-budget.js';
import type { AdminTokenStore } from '../../registry/admin-token-store.js';
import type { Worker, WorkerFilter } from '../../registry/worker.js';
import { workerToJson } from '../../cli/format.js';
import type { Clock } from '../clock.js';
import { UNAUTHORIZED_BODY, UNAUTHORIZED_HEADERS, authenticateAdmin, bearerOf } from './admin-auth.js';
import { sdPort, targetGroups } from './prometheus-sd.js';
import { sendJson, sendText } from './respond.js';
import { BadQueryError, workerFilterFromQuery } from './worker-query.js';

export interface FleetApiDeps {
  adminTokens: Pick<AdminTokenStore, 'verify'>;
  workers: { findWorkers(filter: WorkerFilter): Promise<Worker[]> };
  clock: Pick<Clock, 'now'>;
  logger: Logger;
  /** Bounds the lines of refused credentials. */
  refusalBudget?: Pick<LogBudget, 'allow'>;
  /** Credential of a request without a Bearer header (the page's session cookie); undefined: none. */
  credentialOf?: (req: IncomingMessage) => string | undefined;
}

/** Handles a request if it is one of ours (true), else leaves it to the caller (false). */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

/**
 * The admin's HTTP API: `GET /api/workers` (the filters of `worker list`)
 * and `GET /api/sd` (Prometheus HTTP service discovery), both behind an
 * admin token.
 */
export function createFleetApi(deps: FleetApiDeps): RouteHandler {
  const { logger } = deps;
  const answer = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const auth = await authenticateAdmin(req, deps.adminTokens, logger, bearerOf(req) ?? deps.credentialOf?.(req), deps.refusalBudget);
    if (!auth.ok) {
      if (auth.status === 401) sendText(res, 401, UNAUTHORIZED_BODY, UNAUTHORIZED_HEADERS);
      else sendText(res, 503, 'database unavailable\n');
      return;
    }
    const params = new URL(req.url ?? '/', 'http://master.invalid').searchParams;
    try {
      if (path === '/api/workers') {
        const filter = workerFilterFromQuery(params, Math.floor(deps.clock.now() / 1000));
        sendJson(res, 200, (await deps.workers.findWorkers(filter)).map(workerToJson));
      } else {
        const port = sdPort(params);
        sendJson(res, 200, targetGroups(await deps.workers.findWorkers({ active: true }), port));
      }
    } catch (error) {
      if (error instanceof BadQueryError) {
        sendText(res, 400, `${error.message}\n`);
      } else {
        logger.warn({ path, error: error instanceof Error ? error.message : String(error) }, 'admin API request failed');
        sendText(res, 503, 'database unavailable\n');
      }
    }
  };
  return (req, res, path) => {
    if (path !== '/api/workers' && path !== '/api/sd') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
      return true;
    }
    answer(req, res, path).catch((error: unknown) => {
      logger.error({ path, error: error instanceof Error ? error.message : String(error) }, 'admin API request failed');
      if (!res.headersSent) sendText(res, 500, 'internal error\n');
      else res.destroy();
    });
    return true;
  };
}
