import { describe, expect, it } from 'vitest';
import { CADENCE_LIMITS, DEFAULTS } from './defaults.js';
import { parseEnrolledMessage, parseMasterMessage } from './master-message-reader.js';
import { EnrolledSchema, MasterMessageSchema } from './messages.js';
import type { RawFrame } from './frame.js';
import { parseWithSchema } from './parse.js';

const welcome = { type: 'welcome', protocol_version: 2, heartbeat_interval_ms: 5_000, heartbeat_timeout_ms: 15_000 };
const ack = { type: 'ack', seq: 7 };
const enrolled = { type: 'enrolled', protocol_version: 3, worker_id: 'gpu-01', token: 'tok_0123456789abcdefghij' };

/** Each well-formed message, each of its fields removed or given wrong values, and extra fields. */
function variants(message: Record<string, unknown>): unknown[] {
  const wrong: unknown[] = [undefined, null, true, 0, -1, 1.5, 1e308, -0, 9, 10, 19, 20, 3_600_000, 3_600_001, 7_200_001, Number.MAX_SAFE_INTEGER, 2 ** 53, '', '5000', 'welcome', 'ack', 'enrolled', 'gpu-01', '-gpu', 'x'.repeat(65), 'A'.repeat(15), 'A'.repeat(16), 'A'.repeat(257), 'tok with space', [], {}, [1], { a: 1 }];
  const out: unknown[] = [message, { ...message, extra: 1 }, { extra: 1, ...message }, { ...message, type: 'nope' }];
  for (const key of Object.keys(message)) {
    const { [key]: _dropped, ...rest } = message;
    out.push(rest, { ...rest, extra: 1 });
    for (const value of wrong) {
      out.push({ ...message, [key]: value }, { ...message, [key]: value, extra: true });
      for (const other of Object.keys(message)) if (other !== key) out.push({ ...message, [key]: value, [other]: value });
    }
  }
  return out;
}

const shapes = ['null', '1', '"welcome"', 'true', '[]', '[{"type":"ack","seq":1}]', '{}', '{"type":"ack","seq":1,"__proto__":1}', '{"__proto__":{"type":"ack"},"seq":1}', '{"type":"ack","seq":1,"seq":2}', 'not json', ''];

describe('the agent-side readers say what the schemas say', () => {
  const texts = [...[welcome, ack, enrolled, { ...welcome, protocol_version: 1 }].flatMap(variants).map((m) => JSON.stringify(m)), ...shapes];

  it('parseMasterMessage agrees with MasterMessageSchema on every variant', () => {
    expect(texts.length).toBeGreaterThan(1_000);
    for (const text of texts) expect(parseMasterMessage(text), text).toEqual(parseWithSchema(MasterMessageSchema, text, false, DEFAULTS.maxMessageBytes));
  });

  it('parseEnrolledMessage agrees with EnrolledSchema on every variant', () => {
    for (const text of texts) expect(parseEnrolledMessage(text), text).toEqual(parseWithSchema(EnrolledSchema, text, false, DEFAULTS.maxMessageBytes));
  });

  it('accepts the bounds of the cadence and refuses one past them', () => {
    const at = (interval: number, timeout: number) => parseMasterMessage(JSON.stringify({ ...welcome, heartbeat_interval_ms: interval, heartbeat_timeout_ms: timeout })).ok;
    expect(at(CADENCE_LIMITS.heartbeatIntervalMs.min, CADENCE_LIMITS.heartbeatTimeoutMs.max)).toBe(true);
    expect(at(CADENCE_LIMITS.heartbeatIntervalMs.max, CADENCE_LIMITS.heartbeatTimeoutMs.min)).toBe(true);
    expect(at(CADENCE_LIMITS.heartbeatIntervalMs.min - 1, 15_000)).toBe(false);
    expect(at(5_000, CADENCE_LIMITS.heartbeatTimeoutMs.max + 1)).toBe(false);
  });

  it('refuses binary, oversized and fragmented-invalid frames as the schema parser does', () => {
    const frames: Array<[RawFrame, boolean, number]> = [
      [Buffer.from(JSON.stringify(ack)), true, 100],
      [JSON.stringify(ack), false, 5],
      [[Buffer.from('{"type":"ack",'), Buffer.from('"seq":1}')], false, 100],
    ];
    for (const [data, binary, max] of frames) {
      expect(parseMasterMessage(data, binary, max)).toEqual(parseWithSchema(MasterMessageSchema, data, binary, max));
      expect(parseEnrolledMessage(data, binary, max)).toEqual(parseWithSchema(EnrolledSchema, data, binary, max));
    }
  });
});
