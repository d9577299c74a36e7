import { describe, expect, it } from 'vitest';
import { CloseCode } from './close-codes.js';
import { DEFAULTS } from './defaults.js';
import { encode, parseAgentMessage, parseEnrolledMessage, parseMasterMessage } from './parse.js';
import { enrollAuthorization, isEnrollAuthorization, parseEnrollAuthorization } from './enrollment.js';
import { PROTOCOL_VERSION } from './version.js';

const specs = { total_cpu: 8, total_memory: 15.5, total_storage: 500.1, total_gpu: 2 };
const hello = { type: 'hello', protocol_version: PROTOCOL_VERSION, worker_id: 'gpu-01', agent_version: '0.1.0', specs };

describe('parseAgentMessage', () => {
  it('accepts each well-formed message and round-trips through encode', () => {
    for (const m of [hello, { type: 'heartbeat', seq: 3 }, { type: 'specs', specs }]) {
      const r = parseAgentMessage(JSON.stringify(m));
      expect(r).toEqual({ ok: true, message: m });
      if (r.ok) expect(parseAgentMessage(encode(r.message))).toEqual(r);
    }
  });

  it.each([
    ['invalid JSON', '{"type":', 'not valid JSON'],
    ['unknown type', JSON.stringify({ type: 'reboot' }), 'invalid type'],
    ['missing field', JSON.stringify({ type: 'heartbeat' }), 'invalid seq'],
    ['string number', JSON.stringify({ type: 'specs', specs: { ...specs, total_cpu: '8' } }), 'invalid specs.total_cpu'],
    ['negative', JSON.stringify({ type: 'specs', specs: { ...specs, total_cpu: -1 } }), 'invalid specs.total_cpu'],
    ['absurd', JSON.stringify({ type: 'specs', specs: { ...specs, total_cpu: 1e308 } }), 'invalid specs.total_cpu'],
    ['fractional gpu', JSON.stringify({ type: 'specs', specs: { ...specs, total_gpu: 1.5 } }), 'invalid specs.total_gpu'],
    ['extra field', JSON.stringify({ type: 'heartbeat', seq: 1, $set: 1 }), 'invalid message'],
    ['wrong version', JSON.stringify({ ...hello, protocol_version: 99 }), 'invalid protocol_version'],
    ['bad worker id', JSON.stringify({ ...hello, worker_id: '{"$gt":""}' }), 'invalid worker_id'],
    ['array', '[1,2]', 'invalid'],
    ['null', 'null', 'invalid'],
  ])('refuses %s with a bad-message close', (_name, text, reason) => {
    const r = parseAgentMessage(text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe(CloseCode.badMessage);
      expect(r.reason).toContain(reason);
    }
  });

  it('refuses binary frames and oversized messages before parsing them', () => {
    expect(parseAgentMessage(Buffer.from('{}'), true)).toMatchObject({ ok: false, code: CloseCode.badMessage });
    const big = JSON.stringify({ type: 'heartbeat', seq: 1, pad: 'x'.repeat(DEFAULTS.maxMessageBytes) });
    expect(parseAgentMessage(big)).toMatchObject({ ok: false, code: CloseCode.messageTooBig });
    expect(parseAgentMessage([Buffer.from('{"type":"heartbeat",'), Buffer.from('"seq":1}')])).toMatchObject({ ok: true });
  });
});

describe('parseMasterMessage', () => {
  it('accepts welcome and ack, refuses agent messages', () => {
    const welcome = { type: 'welcome', protocol_version: PROTOCOL_VERSION, heartbeat_interval_ms: 5000, heartbeat_timeout_ms: 15000 };
    expect(parseMasterMessage(JSON.stringify(welcome))).toEqual({ ok: true, message: welcome });
    expect(parseMasterMessage('{"type":"ack","seq":0}')).toEqual({ ok: true, message: { type: 'ack', seq: 0 } });
    expect(parseMasterMessage(JSON.stringify(hello)).ok).toBe(false);
  });
});

describe('parseEnrolledMessage', () => {
  const enrolled = { type: 'enrolled', protocol_version: 3, worker_id: 'gpu-01', token: 'A'.repeat(43) };
  it('reads the one message of an enrollment connection', () => {
    expect(parseEnrolledMessage(JSON.stringify(enrolled))).toEqual({ ok: true, message: enrolled });
  });
  it('refuses another version, a malformed token, an extra field, and a message over the limit', () => {
    expect(parseEnrolledMessage(JSON.stringify({ ...enrolled, protocol_version: 2 })).ok).toBe(false);
    expect(parseEnrolledMessage(JSON.stringify({ ...enrolled, token: 'short' })).ok).toBe(false);
    expect(parseEnrolledMessage(JSON.stringify({ ...enrolled, extra: 1 })).ok).toBe(false);
    expect(parseEnrolledMessage(JSON.stringify({ ...enrolled, token: 'A'.repeat(200) }), false, 100)).toMatchObject({ ok: false, code: 4413 });
  });
  it('tells an Enroll header from a Bearer one', () => {
    expect(parseEnrollAuthorization(enrollAuthorization('A'.repeat(43)))).toBe('A'.repeat(43));
    expect(parseEnrollAuthorization(`Bearer ${'A'.repeat(43)}`)).toBeUndefined();
    expect(isEnrollAuthorization('enroll x')).toBe(true);
    expect(isEnrollAuthorization(`Bearer ${'A'.repeat(43)}`)).toBe(false);
  });
});
