import type { IncomingMessage, ServerResponse } from 'node:http';
import { SECURITY_HEADERS } from './respond.js';

/**
 * The one reader of request bodies on the master's HTTP port, and the one
 * place that decides what happens to a body nobody reads. A body is bounded
 * twice, like Fastify's bodyLimit: a declared Content-Length over the limit is
 * refused before a byte is read, and the bytes are counted while reading, so a
 * chunked body or one that lies about its length is cut off at the limit too.
 * Either way the answer is 413 and the connection is closed: what the peer
 * still sends is never read, so it costs no memory and no time.
 */

export const BODY_TOO_LARGE = 'request body too large\n';

/** The body's declared length: a number, undefined when none is declared (chunked or no body). */
function declaredLength(req: IncomingMessage): number | undefined {
  const header = req.headers['content-length'];
  if (header === undefined) return undefined;
  const length = Number(header);
  return Number.isFinite(length) ? length : Number.POSITIVE_INFINITY;
}

/** True when the request carries a body (Node has checked the framing headers already). */
export function hasBody(req: IncomingMessage): boolean {
  const length = declaredLength(req);
  return (length !== undefined && length > 0) || req.headers['transfer-encoding'] !== undefined;
}

/** Answers 413 and closes the connection once the answer is out; the rest of the body is never read. */
export function refuseBody(res: ServerResponse): void {
  const req = res.req;
  if (!res.headersSent) {
    res.writeHead(413, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
    res.end(BODY_TOO_LARGE, () => req.socket.destroy());
  } else {
    req.socket.destroy();
  }
  // A peer that does not read our answer while it keeps sending: it gets no more of our time.
  setTimeout(() => req.socket.destroy(), 1_000).unref();
}

/**
 * Refuses, before anything is read, a request whose declared body is over
 * the limit (true: answered). For every request, whatever its route: a route
 * that reads no body still must not keep a connection that streams one in.
 */
export function refuseDeclaredBody(req: IncomingMessage, res: ServerResponse, limitBytes: number): boolean {
  const length = declaredLength(req);
  if (length === undefined || length <= limitBytes) return false;
  refuseBody(res);
  return true;
}

/**
 * For a route that answers without reading the body: the connection closes
 * after the answer, so Node does not read (and throw away) whatever the
 * body still holds to keep the connection alive.
 */
export function closeAfterUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  if (hasBody(req) && !req.complete && !res.headersSent) res.setHeader('Connection', 'close');
}

/**
 * Reads the whole body, at most `limitBytes`. Resolves the bytes, or
 * undefined when the body was too large (413 sent, connection closing) or the
 * request failed (the caller has nothing to answer).
 */
export function readBody(req: IncomingMessage, res: ServerResponse, limitBytes: number): Promise<Buffer | undefined> {
  if (refuseDeclaredBody(req, res, limitBytes)) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (value: Buffer | undefined): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
      resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limitBytes) {
        req.pause();
        refuseBody(res);
        done(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => done(Buffer.concat(chunks, size));
    const onError = (): void => done(undefined);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onError);
  });
}
