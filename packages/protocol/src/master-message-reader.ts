import { CADENCE_LIMITS, DEFAULTS } from './defaults.js';
import { ENROLLMENT_PROTOCOL_VERSION, ISSUED_TOKEN_PATTERN } from './enrollment.js';
import { frameJson, invalidAt, type ParseResult, type RawFrame } from './frame.js';
import type { Ack, Enrolled, MasterMessage, Welcome } from './messages.js';
import { isAcceptedProtocolVersion } from './version.js';
import { WORKER_ID_PATTERN } from './worker-id.js';

/**
 * The agent's readers of what the master sends: `welcome` and `ack` on a
 * session, `enrolled` on an enrollment connection. They check exactly what
 * WelcomeSchema, AckSchema and EnrolledSchema (messages.ts, the messages'
 * definition) say, from the same limits, and answer as parseWithSchema would
 * with them, the close reason naming the same first wrong field;
 * master-message-reader.test.ts holds them to those schemas.
 *
 * Why not the schemas themselves: loading zod costs the resident agent about
 * 6 MB (a quarter of what its JavaScript costs), for three small messages it
 * reads. The master, which reads what agents send, keeps the schemas.
 */

type Check = (value: unknown) => boolean;

const wholeNumber = (min: number, max: number): Check => (value) => typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
const matching = (pattern: RegExp): Check => (value) => typeof value === 'string' && pattern.test(value);
const exactly = (expected: unknown): Check => (value) => value === expected;

const WELCOME_FIELDS: ReadonlyArray<readonly [keyof Welcome, Check]> = [
  ['type', exactly('welcome')],
  ['protocol_version', isAcceptedProtocolVersion],
  ['heartbeat_interval_ms', wholeNumber(CADENCE_LIMITS.heartbeatIntervalMs.min, CADENCE_LIMITS.heartbeatIntervalMs.max)],
  ['heartbeat_timeout_ms', wholeNumber(CADENCE_LIMITS.heartbeatTimeoutMs.min, CADENCE_LIMITS.heartbeatTimeoutMs.max)],
];
const ACK_FIELDS: ReadonlyArray<readonly [keyof Ack, Check]> = [
  ['type', exactly('ack')],
  ['seq', wholeNumber(0, Number.MAX_SAFE_INTEGER)],
];
const ENROLLED_FIELDS: ReadonlyArray<readonly [keyof Enrolled, Check]> = [
  ['type', exactly('enrolled')],
  ['protocol_version', exactly(ENROLLMENT_PROTOCOL_VERSION)],
  ['worker_id', matching(WORKER_ID_PATTERN)],
  ['token', matching(ISSUED_TOKEN_PATTERN)],
];

function isRecord(json: unknown): json is Record<string, unknown> {
  return typeof json === 'object' && json !== null && !Array.isArray(json);
}

/** A strict object: every field in the definition's order (the first wrong one is named), then no other field. */
function readFields<T>(json: Record<string, unknown>, fields: ReadonlyArray<readonly [keyof T & string, Check]>): ParseResult<T> {
  const message: Record<string, unknown> = {};
  for (const [name, check] of fields) {
    const value = json[name];
    if (!check(value)) return invalidAt(name);
    message[name] = value;
  }
  if (Object.keys(json).length !== fields.length) return invalidAt('message');
  return { ok: true, message: message as T };
}

/** The agent's one parser for what the master sends on a session. */
export function parseMasterMessage(data: RawFrame, isBinary = false, maxBytes: number = DEFAULTS.maxMessageBytes): ParseResult<MasterMessage> {
  const frame = frameJson(data, isBinary, maxBytes);
  if (!frame.ok) return frame;
  const json = frame.json;
  if (!isRecord(json)) return invalidAt('message');
  if (json.type === 'welcome') return readFields<Welcome>(json, WELCOME_FIELDS);
  if (json.type === 'ack') return readFields<Ack>(json, ACK_FIELDS);
  return invalidAt('type');
}

/** The agent's parser for the master's message on an enrollment connection. */
export function parseEnrolledMessage(data: RawFrame, isBinary = false, maxBytes: number = DEFAULTS.maxMessageBytes): ParseResult<Enrolled> {
  const frame = frameJson(data, isBinary, maxBytes);
  if (!frame.ok) return frame;
  if (!isRecord(frame.json)) return invalidAt('message');
  return readFields<Enrolled>(frame.json, ENROLLED_FIELDS);
}
