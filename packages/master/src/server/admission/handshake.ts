import type { IncomingMessage } from 'node:http';
import type { Refusal } from './decision.js';

const KEY = /^[+/0-9A-Za-z]{22}==$/;

function bad(reason: string): Refusal {
  return { ok: false, status: 400, reason, metric: 'bad_handshake' };
}

/**
 * The checks `ws` makes in handleUpgrade (RFC 6455 section 4.2.1), made
 * before admission instead: a request that can never become a WebSocket is
 * refused through the same logged, counted path as any other refusal, costs
 * no admission work, and is never counted as admitted. Version 400, not 426:
 * to our agents 426 means "another protocol version", an upgrade of the agent.
 * Null when ws will accept the handshake.
 */
export function checkHandshake(req: Pick<IncomingMessage, 'method' | 'headers'>): Refusal | null {
  if (req.method !== 'GET') return { ok: false, status: 405, reason: 'method not allowed', metric: 'bad_handshake' };
  const { upgrade } = req.headers;
  if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') return bad('invalid Upgrade header');
  const key = req.headers['sec-websocket-key'];
  if (key === undefined || !KEY.test(key)) return bad('missing or invalid Sec-WebSocket-Key header');
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') return bad('missing or invalid Sec-WebSocket-Version header');
  return null;
}
