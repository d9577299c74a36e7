import { PROTOCOL_VERSION, type ProtocolVersion } from '@cluster/protocol';
import type { RawData } from 'ws';

function text(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/**
 * The protocol version of a hello that failed the schema, when it names a
 * version other than the session's (the one its upgrade asked for); else undefined. The version decides which schema
 * applies, so a hello of another version is answered 4426 (upgrade the agent
 * or the master) whatever else it holds: another version's hello may well
 * have other fields, and 4400 would send that agent into fast retries of a
 * message that can never pass. Called only for frames that already failed
 * parsing (rare), so parsing the text a second time costs nothing that matters.
 */
export function otherHelloVersion(data: RawData, isBinary: boolean, sessionVersion: ProtocolVersion = PROTOCOL_VERSION): number | undefined {
  if (isBinary) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text(data));
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const { type, protocol_version: version } = json as Record<string, unknown>;
  if (type !== 'hello' || !Number.isSafeInteger(version) || version === sessionVersion) return undefined;
  return version as number;
}
