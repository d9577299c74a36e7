/**
 * Enrollment (protocol version 3): an agent that has no credential of its own
 * yet proves an enrollment token an admin created for a batch of machines
 * (`cluster-master enroll create`) and receives its own worker credential.
 *
 * It is one WebSocket upgrade on the agents' path, admitted like any other
 * (registered id, address matching worker_ip), with
 * `x-protocol-version: 3` and `Authorization: Enroll <enrollment token>`.
 * The master answers a refusal with an HTTP status and a short reason, as for
 * any upgrade; once admitted it sends one `enrolled` message, which carries
 * the worker's credential, and the agent closes the connection (1000) after
 * storing it, then opens its session with that credential like any agent.
 * The agent sends no message on an enrollment connection.
 * (The `enrolled` message's schema is in messages.ts, with the others.)
 *
 * Sessions are unchanged from version 2 (agents keep opening them in version
 * 2), so only enrollment needs a version-3 master: a master of an older
 * release refuses the upgrade with 426, which the agent reports as "upgrade
 * the master" instead of stepping down, as there is nothing older to step down to.
 */
import { ISSUED_TOKEN_PATTERN, tokenAfterScheme } from './token-shape.js';

export const ENROLLMENT_PROTOCOL_VERSION = 3;

/** The Authorization scheme of an enrollment upgrade: never confused with a worker's `Bearer` credential. */
export const ENROLL_SCHEME = 'Enroll';

/** A worker credential as the master issues it (the `enrolled` message's token). */
export { ISSUED_TOKEN_PATTERN };

export function enrollAuthorization(token: string): string {
  return `${ENROLL_SCHEME} ${token}`;
}

/** Whether an Authorization header asks for enrollment (whatever its token looks like). */
export function isEnrollAuthorization(value: string | undefined): boolean {
  return value !== undefined && value.slice(0, ENROLL_SCHEME.length + 1).toLowerCase() === `${ENROLL_SCHEME.toLowerCase()} `;
}

/** The token of an `Enroll <token>` header value, or undefined when malformed. */
export function parseEnrollAuthorization(value: string | undefined): string | undefined {
  return tokenAfterScheme('Enroll', value);
}
