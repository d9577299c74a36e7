import { PROTOCOL_VERSION } from '@cluster/protocol';
import { describe, expect, test } from 'vitest';
import { otherHelloVersion } from './hello-version.js';

const frame = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

describe('otherHelloVersion', () => {
  test('a hello naming another version gives that version, whatever else it holds', () => {
    expect(otherHelloVersion(frame({ type: 'hello', protocol_version: PROTOCOL_VERSION + 1, worker_id: 'w1' }), false)).toBe(PROTOCOL_VERSION + 1);
    expect(otherHelloVersion(frame({ type: 'hello', protocol_version: 0, new_field: true }), false)).toBe(0);
    expect(otherHelloVersion([frame({ type: 'hello', protocol_version: 7 })], false)).toBe(7);
  });

  test.each([
    ['our own version', frame({ type: 'hello', protocol_version: PROTOCOL_VERSION })],
    ['no version', frame({ type: 'hello', worker_id: 'w1' })],
    ['a version that is not an integer', frame({ type: 'hello', protocol_version: '2' })],
    ['a fractional version', frame({ type: 'hello', protocol_version: 1.5 })],
    ['another message type', frame({ type: 'heartbeat', protocol_version: 2 })],
    ['not JSON', Buffer.from('{"type":"hello",')],
    ['an array', frame([{ type: 'hello', protocol_version: 2 }])],
  ])('%s: undefined', (_what, data) => {
    expect(otherHelloVersion(data, false)).toBeUndefined();
  });

  test('binary frames are never a hello', () => {
    expect(otherHelloVersion(frame({ type: 'hello', protocol_version: 2 }), true)).toBeUndefined();
  });
});
