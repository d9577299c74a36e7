import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { HEADERS, PROTOCOL_VERSION, bearer } from '@cluster/protocol';

/**
 * Hand-written bytes on a TCP socket, for what a well-behaved HTTP or
 * WebSocket client cannot send: malformed heads, oversized headers, slow
 * loris, connections that never say anything. Always 127.0.0.1.
 */
export const LOOPBACK = '127.0.0.1';

export interface RawResult {
  /** The HTTP status of the answer, if one came. */
  status: number | undefined;
  /** Everything the server sent (first 4 KiB). */
  response: string;
  /** From connect to the server closing (or the deadline). */
  elapsedMs: number;
  /** False when the deadline passed with the socket still open (then we closed it). */
  closedByServer: boolean;
  /** Bytes of the request actually written (slow loris). */
  sent: number;
}

export interface RawOptions {
  /** Give up (and count the socket as not closed by the server) after this long. */
  deadlineMs?: number;
  /** Write one byte every this many ms instead of all at once. */
  byteEveryMs?: number;
  /** Speak TLS first (any certificate). */
  tls?: boolean;
  /** Once a response head has arrived, wait at most this long for the close (keep-alive answers). */
  settleAfterHeadMs?: number;
}

function statusOf(response: string): number | undefined {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(response);
  return m ? Number(m[1]) : undefined;
}

/** Writes `payload` (empty: nothing at all) and waits for the server to close the connection. */
export function rawExchange(port: number, payload: string | Buffer, options: RawOptions = {}): Promise<RawResult> {
  const deadlineMs = options.deadlineMs ?? 10_000;
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  return new Promise((resolve) => {
    const started = performance.now();
    const socket: Socket = options.tls
      ? tlsConnect({ port, host: LOOPBACK, rejectUnauthorized: false })
      : netConnect({ port, host: LOOPBACK });
    let response = '';
    let sent = 0;
    let finished = false;
    let drip: NodeJS.Timeout | undefined;
    const finish = (closedByServer: boolean): void => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      if (drip !== undefined) clearInterval(drip);
      socket.destroy();
      resolve({ status: statusOf(response), response, elapsedMs: performance.now() - started, closedByServer, sent });
    };
    const deadline = setTimeout(() => finish(false), deadlineMs);
    socket.on('data', (chunk: Buffer) => {
      const hadHead = response.includes('\r\n\r\n');
      if (response.length < 4096) response += chunk.toString('latin1');
      if (!hadHead && options.settleAfterHeadMs !== undefined && response.includes('\r\n\r\n')) {
        setTimeout(() => finish(false), options.settleAfterHeadMs).unref();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => finish(true));
    socket.once(options.tls ? 'secureConnect' : 'connect', () => {
      if (bytes.length === 0) return;
      if (options.byteEveryMs === undefined) {
        socket.write(bytes);
        sent = bytes.length;
        return;
      }
      drip = setInterval(() => {
        if (sent >= bytes.length || socket.destroyed) {
          clearInterval(drip);
          return;
        }
        socket.write(bytes.subarray(sent, sent + 1));
        sent += 1;
      }, options.byteEveryMs);
    });
  });
}

export interface UpgradeRequest {
  method?: string;
  path?: string;
  workerId?: string;
  token?: string;
  /** Extra header lines, raw ("Name: value"), in order; may repeat names. */
  extra?: string[];
  /** Leave out the WebSocket key / version headers. */
  omitKey?: boolean;
  omitVersion?: boolean;
}

/** A WebSocket upgrade request as bytes, latin1 (so any byte can be put in a header). */
export function upgradeRequest(r: UpgradeRequest): string {
  const lines = [
    `${r.method ?? 'GET'} ${r.path ?? '/agent'} HTTP/1.1`,
    `Host: ${LOOPBACK}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    ...(r.omitKey ? [] : [`Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`]),
    'Sec-WebSocket-Version: 13',
    ...(r.omitVersion ? [] : [`${HEADERS.protocolVersion}: ${PROTOCOL_VERSION}`]),
    ...(r.workerId === undefined ? [] : [`${HEADERS.workerId}: ${r.workerId}`]),
    ...(r.token === undefined ? [] : [`${HEADERS.authorization}: ${bearer(r.token)}`]),
    ...(r.extra ?? []),
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** A plain HTTP request (no upgrade). */
export function plainRequest(method: string, path: string, extra: string[] = []): string {
  return [`${method} ${path} HTTP/1.1`, `Host: ${LOOPBACK}`, 'Connection: close', 'Content-Length: 0', ...extra, '', ''].join('\r\n');
}

/**
 * A TCP connection that says nothing at all (not even a TLS ClientHello);
 * `closed` resolves with the ms from connect to the server closing it.
 */
export function idleConnection(port: number): Promise<{ socket: Socket; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket: Socket = netConnect({ port, host: LOOPBACK });
    const closed = new Promise<number>((done) => socket.once('close', () => done(performance.now() - started)));
    socket.on('error', () => undefined);
    // Consume whatever the server answers before closing (a 400 or 408): a paused socket would never see the end.
    socket.resume();
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}
