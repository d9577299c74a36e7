import { STATUS_CODES, createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { HttpRefusalReason } from '../metrics/metrics.js';
import type { HttpRefusal } from './admission/refusal-log.js';
import { refuseUpgrade } from './admission/refusal.js';

export interface HttpServerOptions {
  tls?: { cert: string | Buffer; key: string | Buffer } | undefined;
  /** Path of the agents' endpoint; upgrades elsewhere are refused 404. */
  agentPath: string;
  /** Largest request head accepted (bytes). */
  maxHeaderBytes: number;
  /** Time allowed for a request head / a whole request to arrive, and for a TLS handshake. */
  requestTimeoutMs: number;
  metricsRegistry: MetricsRegistry;
  /** Null when ready, else why not (the /readyz body). */
  notReadyReason(): string | null;
  /** An upgrade request on agentPath. */
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** An upgrade request on any other path. */
  onStrayUpgrade(req: IncomingMessage, socket: Duplex): void;
  /** A request turned away before it could be an upgrade, `address` as the socket reports it (to log and count; the answer is sent here). */
  onRefused(refusal: HttpRefusal): void;
  /** The admin's page and API (http/): true when it answered the request. */
  adminRoutes?: ((req: IncomingMessage, res: ServerResponse, path: string) => boolean) | undefined;
}

/** How Node's parser errors are answered (like Node's default clientError handler). */
function classifyClientError(code: string | undefined): { reason: HttpRefusalReason; status: number | undefined } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { reason: 'header_too_large', status: 431 };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { reason: 'timeout', status: 408 };
    case 'ECONNRESET':
    case 'EPIPE':
      return { reason: 'reset', status: undefined };
    case undefined:
    default:
      return { reason: 'bad_request', status: 400 };
  }
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
  const refused = (req: IncomingMessage, reason: HttpRefusalReason, status: number): void => {
    options.onRefused({ reason, status, address: req.socket.remoteAddress, method: req.method, path: pathOf(req) });
  };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = pathOf(req);
    if (options.adminRoutes?.(req, res, path) === true) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      refused(req, 'method_not_allowed', 405);
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
        if (path === options.agentPath) {
          refused(req, 'upgrade_required', 426);
          reply(res, 426, 'websocket upgrade required\n');
        } else {
          refused(req, 'not_found', 404);
          reply(res, 404, 'not found\n');
        }
    }
  };
  const server = options.tls
    ? createHttpsServer(
        // A peer that connects and never starts (or finishes) TLS is held no longer than a slow request head.
        { ...serverOptions, handshakeTimeout: options.requestTimeoutMs, cert: options.tls.cert, key: options.tls.key },
        handler,
      )
    : createHttpServer(serverOptions, handler);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(req) === options.agentPath) options.onUpgrade(req, socket, head);
    else options.onStrayUpgrade(req, socket);
  });
  // Without a listener Node drops CONNECT silently; a proxy probe gets an answer and a log line.
  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => undefined);
    refused(req, 'connect', 405);
    refuseUpgrade(socket, 405, 'method not allowed');
  });
  // Malformed, oversized or too slow requests: answer like Node's default handler, then drop.
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => {
    const { reason, status } = classifyClientError(error.code);
    options.onRefused({ reason, status, address: (socket as Socket).remoteAddress, code: error.code });
    if (status !== undefined && socket.writable) {
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
    }
    socket.destroy();
  });
  // Handshake timeout, plain HTTP or an unknown CA on the TLS port: Node destroys the socket; we say why.
  server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
    options.onRefused({ reason: 'tls', status: undefined, address: socket.remoteAddress, code: error.code });
    socket.destroy();
  });
  return server;
}
