import { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/**
 * One side speaks TLS and the other does not: what each end of the master
 * sees, said in words (Node reports it as a parser error, HPE_INVALID_METHOD,
 * or as OpenSSL's "http request"), and what a plain-text client is answered.
 */

/** Logged when a TLS handshake arrives on a plain master. */
export const TLS_ON_PLAIN =
  'a TLS handshake arrived on this plain (ws://) endpoint: the client uses wss:// or https://; serve TLS with --tls-cert and --tls-key, or have the client use ws://';

/** Logged when plain HTTP arrives on a TLS master. */
export const PLAIN_ON_TLS =
  'plain HTTP arrived on this TLS (wss://) endpoint: the client uses ws:// or http://; have it use wss:// (agents) or https://';

/** The body answered to plain HTTP on the TLS port; agents recognise "TLS" and "wss:" in it and advise wss://. */
const PLAIN_ON_TLS_BODY = 'this endpoint speaks TLS only: use wss:// (agents) or https://\n';

/**
 * True when the bytes Node's HTTP parser refused are a TLS record: a
 * handshake (content type 22) of TLS 1.0 to 1.3 (major version 3).
 */
export function isTlsHandshake(rawPacket: unknown): boolean {
  return Buffer.isBuffer(rawPacket) && rawPacket.length >= 3 && rawPacket[0] === 0x16 && rawPacket[1] === 0x03;
}

/** OpenSSL's code for plain HTTP where a TLS record was expected. */
export function isPlainHttpOnTls(code: string | undefined): boolean {
  return code === 'ERR_SSL_HTTP_REQUEST';
}

/**
 * Answers plain HTTP on the TLS port in plain text: a 400 that says TLS, so a
 * person with curl or an agent with ws:// learns what to change. The answer is
 * written to the TCP socket under the TLS one (Node names it `_parent`; no
 * public name exists); without it the connection is just closed.
 */
export function answerPlainOnTls(socket: TLSSocket): void {
  const tcp = (socket as unknown as { _parent?: unknown })._parent;
  if (!(tcp instanceof Socket) || !tcp.writable) {
    socket.destroy();
    return;
  }
  const head = `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(PLAIN_ON_TLS_BODY)}\r\nConnection: close\r\n\r\n`;
  tcp.on('error', () => undefined);
  tcp.end(head + PLAIN_ON_TLS_BODY, () => socket.destroy());
}
