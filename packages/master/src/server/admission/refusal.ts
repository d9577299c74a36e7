import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';

/**
 * Answers an upgrade (or CONNECT) request on the raw socket: a plain HTTP status with a
 * short text body, then the socket is closed. The reason is ours, never text
 * the peer sent.
 */
export function refuseUpgrade(socket: Duplex, status: number, reason: string, retryAfterS?: number): void {
  if (socket.destroyed) return;
  const body = `${reason}\n`;
  const text = STATUS_CODES[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\n` +
      (retryAfterS === undefined ? '' : `Retry-After: ${Math.max(0, Math.ceil(retryAfterS))}\r\n`) +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n' +
      '\r\n' +
      body,
    () => socket.destroy(),
  );
  // In case the peer never reads what was written.
  setTimeout(() => socket.destroy(), 1_000).unref();
}
