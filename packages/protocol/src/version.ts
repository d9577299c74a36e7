/**
 * Wire protocol versions. The agent sends its version in its upgrade request
 * (`x-protocol-version`) and in its hello; the master answers in the version
 * the agent chose, and refuses a version it does not accept with HTTP 426 /
 * close 4426.
 *
 * A protocol change that an older peer could misread gets a new version, and
 * the master keeps accepting the previous ones (ACCEPTED_PROTOCOL_VERSIONS,
 * each with its own schemas in messages.ts), so that a fleet is upgraded one
 * machine at a time, masters first, with no flag day. An agent speaks the
 * newest version and steps down to an older one when a master refuses it with
 * 426 (see the agent's session/protocol-fallback.ts and the README's
 * "Upgrading").
 *
 * - 1: hello, heartbeat, specs; welcome, ack.
 * - 2: the hello and the specs message may carry the machine's `hardware` inventory.
 * - 3: enrollment (enrollment.ts): an upgrade with `Authorization: Enroll <token>` gets the
 *   worker its own credential. Sessions are unchanged, so they stay at version 2 and this list
 *   (the versions a session may speak) ends at 2; ENROLLMENT_PROTOCOL_VERSION names 3.
 */
export const PROTOCOL_VERSION = 2;

/** Every version a peer of this build speaks, oldest first; the last is PROTOCOL_VERSION. */
export const ACCEPTED_PROTOCOL_VERSIONS = [1, 2] as const;

export type ProtocolVersion = (typeof ACCEPTED_PROTOCOL_VERSIONS)[number];

export function isAcceptedProtocolVersion(version: unknown): version is ProtocolVersion {
  return (ACCEPTED_PROTOCOL_VERSIONS as readonly unknown[]).includes(version);
}

/** The version an `x-protocol-version` header names, when this build speaks it. */
export function protocolVersionFromHeader(value: string | undefined): ProtocolVersion | undefined {
  if (value === undefined || !/^[1-9][0-9]{0,5}$/.test(value)) return undefined;
  const n = Number(value);
  return isAcceptedProtocolVersion(n) ? n : undefined;
}

/** The newest version this build speaks that is older than `version`; undefined when there is none. */
export function previousProtocolVersion(version: ProtocolVersion): ProtocolVersion | undefined {
  let previous: ProtocolVersion | undefined;
  for (const v of ACCEPTED_PROTOCOL_VERSIONS) if (v < version) previous = v;
  return previous;
}
