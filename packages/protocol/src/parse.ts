import type { z } from 'zod';
import { CloseCode, type CloseCodeValue } from './close-codes.js';
import { DEFAULTS } from './defaults.js';
import { EnrolledSchema, type Enrolled } from './enrollment.js';
import { AGENT_MESSAGE_SCHEMAS, MasterMessageSchema, type AgentMessage, type MasterMessage } from './messages.js';
import { PROTOCOL_VERSION, type ProtocolVersion } from './version.js';

export type ParseResult<T> =
  | { ok: true; message: T }
  | { ok: false; code: CloseCodeValue; reason: string };

/** A frame as `ws` delivers it: a Buffer (or fragments) and whether it was binary. */
export type RawFrame = Buffer | ArrayBuffer | Buffer[] | string;

function frameText(data: RawFrame): string {
  if (typeof data === 'string') return data;
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function frameLength(data: RawFrame): number {
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data.byteLength;
}

function parseWith<T>(schema: z.ZodType<T>, data: RawFrame, isBinary: boolean, maxBytes: number): ParseResult<T> {
  if (isBinary) return { ok: false, code: CloseCode.badMessage, reason: 'binary frames are not part of the protocol' };
  if (frameLength(data) > maxBytes) {
    return { ok: false, code: CloseCode.messageTooBig, reason: `message larger than ${maxBytes} bytes` };
  }
  let json: unknown;
  try {
    json = JSON.parse(frameText(data));
  } catch {
    return { ok: false, code: CloseCode.badMessage, reason: 'message is not valid JSON' };
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'message';
    // Close reasons are limited to 123 bytes; keep it short and free of peer-supplied text.
    return { ok: false, code: CloseCode.badMessage, reason: `invalid ${where}`.slice(0, 100) };
  }
  return { ok: true, message: result.data };
}

/** The master's one parser for what an agent sends, by the protocol version admitted at the upgrade. */
export function parseAgentMessage(
  data: RawFrame,
  isBinary = false,
  maxBytes: number = DEFAULTS.maxMessageBytes,
  version: ProtocolVersion = PROTOCOL_VERSION,
): ParseResult<AgentMessage> {
  return parseWith<AgentMessage>(AGENT_MESSAGE_SCHEMAS[version], data, isBinary, maxBytes);
}

/** The agent's one parser for what the master sends. */
export function parseMasterMessage(
  data: RawFrame,
  isBinary = false,
  maxBytes: number = DEFAULTS.maxMessageBytes,
): ParseResult<MasterMessage> {
  return parseWith(MasterMessageSchema, data, isBinary, maxBytes);
}

/** The agent's parser for the master's message on an enrollment connection. */
export function parseEnrolledMessage(data: RawFrame, isBinary = false, maxBytes: number = DEFAULTS.maxMessageBytes): ParseResult<Enrolled> {
  return parseWith(EnrolledSchema, data, isBinary, maxBytes);
}

/** Serialises a message; the one place either side turns a message into text. */
export function encode(message: AgentMessage | MasterMessage | Enrolled): string {
  return JSON.stringify(message);
}
