import type { IncomingHttpHeaders } from 'node:http';
import { expect, test } from 'vitest';
import { checkHandshake } from './handshake.js';

const valid: IncomingHttpHeaders = {
  upgrade: 'websocket',
  connection: 'Upgrade',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'sec-websocket-version': '13',
};
const req = (headers: IncomingHttpHeaders = {}, method = 'GET') => ({ method, headers: { ...valid, ...headers } });

test('what ws accepts passes', () => {
  expect(checkHandshake(req())).toBeNull();
  expect(checkHandshake(req({ upgrade: 'WebSocket' }))).toBeNull();
  expect(checkHandshake(req({ 'sec-websocket-version': '8' }))).toBeNull();
});

test('another method: 405', () => {
  expect(checkHandshake(req({}, 'POST'))).toMatchObject({ status: 405, metric: 'bad_handshake' });
});

test.each([
  ['another upgrade', { upgrade: 'h2c' }, /Upgrade/],
  ['no key', { 'sec-websocket-key': undefined }, /Sec-WebSocket-Key/],
  ['a key of the wrong shape', { 'sec-websocket-key': 'short==' }, /Sec-WebSocket-Key/],
  ['no version', { 'sec-websocket-version': undefined }, /Sec-WebSocket-Version/],
  ['version 7', { 'sec-websocket-version': '7' }, /Sec-WebSocket-Version/],
])('%s: 400 (not 426, which tells our agents to upgrade)', (_what, headers, reason) => {
  const refusal = checkHandshake(req(headers));
  expect(refusal).toMatchObject({ ok: false, status: 400, metric: 'bad_handshake' });
  expect(refusal?.reason).toMatch(reason);
});
