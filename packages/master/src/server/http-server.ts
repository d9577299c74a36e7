import { STATUS_CODES, createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';

export interface HttpServerOptions {
  tls?: { cert: string | Buffer; key: string | Buffer } | undefined;
  /** Path of the agents' endpoint; upgrades elsewhere are refused 404. */
  agentPath: string;
  /** Largest request head accepted (bytes). */
  maxHeaderBytes: number;
  /** Time allowed for a request head / a whole request to arrive. */
  requestTimeoutMs: number;
  metricsRegistry: Registry;
  /** Null when ready, else why not (the /readyz body). */
  notReadyReason(): string | null;
  /** An upgrade request on agentPath. */
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** An upgrade request on any other path. */
  onStrayUpgrade(req: IncomingMessage, socket: Duplex): void;
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function reply(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  res.end(body);
}

/**
 * The master's one listening socket: /healthz, /readyz and /metrics for
 * operators, and the agents' WebSocket upgrade. Small header limit and short
 * request timeouts, so a socket that never completes its request (slow loris)
 * is closed by Node itself.
 */
export function createMasterHttpServer(options: HttpServerOptions): Server {
  const serverOptions = {
    maxHeaderSize: options.maxHeaderBytes,
    requestTimeout: options.requestTimeoutMs,
    headersTimeout: options.requestTimeoutMs,
    // How often Node checks the two timeouts above (default 30 s).
    connectionsCheckingInterval: Math.max(250, Math.floor(options.requestTimeoutMs / 4)),
    keepAliveTimeout: 5_000,
  };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = pathOf(req);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply(res, 405, 'method not allowed\n');
      return;
    }
    switch (path) {
      case '/healthz':
        reply(res, 200, 'ok\n');
        return;
      case '/readyz': {
        const reason = options.notReadyReason();
        if (reason === null) reply(res, 200, 'ready\n');
        else reply(res, 503, `not ready: ${reason}\n`);
        return;
      }
      case '/metrics':
        options.metricsRegistry.metrics().then(
          (text) => reply(res, 200, text, options.metricsRegistry.contentType),
          () => reply(res, 500, 'metrics unavailable\n'),
        );
        return;
      default:
        if (path === options.agentPath) reply(res, 426, 'websocket upgrade required\n');
        else reply(res, 404, 'not found\n');
    }
  };
  const server = options.tls
    ? createHttpsServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key }, handler)
    : createHttpServer(serverOptions, handler);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(req) === options.agentPath) options.onUpgrade(req, socket, head);
    else options.onStrayUpgrade(req, socket);
  });
  // Malformed, oversized or too slow requests: answer like Node's default handler, then drop.
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => {
    const status =
      error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    if (socket.writable && error.code !== 'ECONNRESET') {
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
    }
    socket.destroy();
  });
  return server;
}
