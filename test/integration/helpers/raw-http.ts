import { connect, type Socket } from 'node:net';

export interface StreamedAnswer {
  /** The answer's status, 0 when none came. */
  status: number;
  /** The answer's head and body as received. */
  text: string;
  /** Body bytes this client had written (accepted by its socket) when the answer came or the socket closed. */
  sentBytes: number;
  /** The master closed the connection. */
  closed: boolean;
}

export interface StreamedRequest {
  port: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  /** Body bytes to send at most; the sending stops earlier when an answer comes. */
  sendBytes: number;
  /** Chunked framing (no Content-Length needed): the terminating chunk is never sent. */
  chunked?: boolean;
  /** Give up (status 0) after this long. */
  timeoutMs: number;
}

/**
 * Sends a request whose body is streamed from one reused buffer (nothing the
 * size of the body is allocated), with backpressure, until the master answers,
 * closes, or `sendBytes` are out: how a hostile client sends 1 GiB.
 */
export function streamRequest(r: StreamedRequest): Promise<StreamedAnswer> {
  return new Promise((resolve) => {
    const socket: Socket = connect(r.port, '127.0.0.1');
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    let text = '';
    let answered = false;
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ status: status === null ? 0 : Number(status[1]), text, sentBytes: sent, closed });
      socket.destroy();
    };
    const timer = setTimeout(() => finish(false), r.timeoutMs);
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('data', (data: Buffer) => {
      text += data.toString('latin1');
      answered = true;
    });
    const pump = (): void => {
      while (!answered && !socket.destroyed && sent < r.sendBytes) {
        const piece = r.chunked === true ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk;
        sent += chunk.length;
        if (!socket.write(piece)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    socket.on('connect', () => {
      const headers = { Host: `127.0.0.1:${r.port}`, ...r.headers, ...(r.chunked === true ? { 'Transfer-Encoding': 'chunked' } : {}) };
      const head = `${r.method} ${r.path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
      socket.write(head);
      pump();
    });
  });
}
