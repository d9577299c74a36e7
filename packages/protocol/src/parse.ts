import type { z } from 'zod';
import { DEFAULTS } from './defaults.js';
import { frameJson, invalidAt, type ParseResult, type RawFrame } from './frame.js';
import { AGENT_MESSAGE_SCHEMAS, type AgentMessage } from './messages.js';
import { PROTOCOL_VERSION, type ProtocolVersion } from './version.js';

export { encode, type ParseResult, type RawFrame } from './frame.js';
export { parseEnrolledMessage, parseMasterMessage } from './master-message-reader.js';

/** A frame checked against a schema of messages.ts; the first issue names the field in the close reason. */
export function parseWithSchema<T>(schema: z.ZodType<T>, data: RawFrame, isBinary: boolean, maxBytes: number): ParseResult<T> {
  const frame = frameJson(data, isBinary, maxBytes);
  if (!frame.ok) return frame;
  const result = schema.safeParse(frame.json);
  if (!result.success) {
    const issue = result.error.issues[0];
    return invalidAt(issue && issue.path.length > 0 ? issue.path.join('.') : 'message');
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
  return parseWithSchema<AgentMessage>(AGENT_MESSAGE_SCHEMAS[version], data, isBinary, maxBytes);
}
