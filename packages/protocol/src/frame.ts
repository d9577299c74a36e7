import { CloseCode, type CloseCodeValue } from './close-codes.js';
import type { AgentMessage, Enrolled, MasterMessage } from './messages.js';

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

/** The JSON of a text frame no larger than `maxBytes`; what every parser checks before the message's fields. */
export function frameJson(data: RawFrame, isBinary: boolean, maxBytes: number): { ok: true; json: unknown } | Extract<ParseResult<never>, { ok: false }> {
  if (isBinary) return { ok: false, code: CloseCode.badMessage, reason: 'binary frames are not part of the protocol' };
  if (frameLength(data) > maxBytes) {
    return { ok: false, code: CloseCode.messageTooBig, reason: `message larger than ${maxBytes} bytes` };
  }
  try {
    return { ok: true, json: JSON.parse(frameText(data)) };
  } catch {
    return { ok: false, code: CloseCode.badMessage, reason: 'message is not valid JSON' };
  }
}

/**
 * A bad message's result. `where` is the first field found wrong ('message'
 * for the message as a whole). Close reasons are limited to 123 bytes; keep it
 * short and free of peer-supplied text.
 */
export function invalidAt(where: string): Extract<ParseResult<never>, { ok: false }> {
  return { ok: false, code: CloseCode.badMessage, reason: `invalid ${where}`.slice(0, 100) };
}

/** Serialises a message; the one place either side turns a message into text. */
export function encode(message: AgentMessage | MasterMessage | Enrolled): string {
  return JSON.stringify(message);
}
