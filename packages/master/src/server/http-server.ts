import { STATUS_CODES, createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { HttpRefusalReason } from '../metrics/metrics.js';
import type { HttpRefusal } from './admission/refusal-log.js';
import { refuseUpgrade } from './admission/refusal.js';
import { closeAfterUnreadBody, refuseDeclaredBody } from './http/request-body.js';
import { PLAIN_ON_TLS, TLS_ON_PLAIN, answerPlainOnTls, isPlainHttpOnTls, isTlsHandshake } from './http/tls-mismatch.js';

/** Which master answered: /healthz says it, so a script that started one can tell it from another on the same port. */
export interface MasterIdentity {
  pid: number;
  /** Random, new for every master created. */
  instanceId: string;
}

export interface HttpServerOptions {
  tls?: { cert: string | Buffer; key: string | Buffer } | undefined;
  /** Path of the agents' endpoint; upgrades elsewhere are refused 404. */
  agentPath: string;
  /** Largest request head accepted (bytes). */
  maxHeaderBytes: number;
  /** Largest request body accepted on any route (bytes): a larger one is answered 413 and its connection closed. */
  maxBodyBytes: number;
  /** Time allowed for a request head / a whole request to arrive, and for a TLS handshake. */
  requestTimeoutMs: number;
  identity: MasterIdentity;
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
 * How often Node checks the request timeouts of open connections (its
 * default is 30 s): a head that is too slow is dropped this much after the
 * timeout at most, so a fortieth of it, 250 ms for the default 10 s.
 */
export function connectionsCheckingIntervalMs(requestTimeoutMs: number): number {
  return Math.max(50, Math.min(250, Math.floor(requestTimeoutMs / 40)));
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
    connectionsCheckingInterval: connectionsCheckingIntervalMs(options.requestTimeoutMs),
    keepAliveTimeout: 5_000,
  };
  const refused = (req: IncomingMessage, reason: HttpRefusalReason, status: number): void => {
    options.onRefused({ reason, status, address: req.socket.remoteAddress, method: req.method, path: pathOf(req) });
  };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = pathOf(req);
    if (refuseDeclaredBody(req, res, options.maxBodyBytes)) {
      refused(req, 'body_too_large', 413);
      return;
    }
    closeAfterUnreadBody(req, res);
    if (options.adminRoutes?.(req, res, path) === true) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      refused(req, 'method_not_allowed', 405);
      reply(res, 405, 'method not allowed\n');
      return;
    }
    switch (path) {
      case '/healthz':
        reply(res, 200, `${JSON.stringify({ status: 'ok', pid: options.identity.pid, instance_id: options.identity.instanceId })}\n`, 'application/json');
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
          // The same words as a stray upgrade's 404: a wrong path, whatever the client.
          reply(res, 404, 'unknown path\n');
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
  answerClientErrors(server, (refusal) => options.onRefused(refusal));
  return server;
}

/** Requests Node's parser or TLS refused: answered (when there is something to say), logged, dropped. */
function answerClientErrors(server: Server, onRefused: (refusal: HttpRefusal) => void): void {
  // Malformed, oversized or too slow requests: answer like Node's default handler, then drop.
  server.on('clientError', (error: Error & { code?: string; rawPacket?: unknown }, socket: Duplex) => {
    const { reason, status } = classifyClientError(error.code);
    const message = isTlsHandshake(error.rawPacket) ? TLS_ON_PLAIN : undefined;
    onRefused({ reason, status, address: (socket as Socket).remoteAddress, code: error.code, message });
    if (status !== undefined && socket.writable) {
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
    }
    socket.destroy();
  });
  // Handshake timeout, plain HTTP or an unknown CA on the TLS port: we say why; plain HTTP gets a plain answer.
  server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
    if (isPlainHttpOnTls(error.code)) {
      onRefused({ reason: 'tls', status: 400, address: socket.remoteAddress, code: error.code, message: PLAIN_ON_TLS });
      answerPlainOnTls(socket);
      return;
    }
    onRefused({ reason: 'tls', status: undefined, address: socket.remoteAddress, code: error.code });
    socket.destroy();
  });
}
