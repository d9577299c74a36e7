/**
 * WebSocket close codes in the private 4xxx range, mirroring HTTP statuses
 * (4401 ~ 401) so that a log line reads the same at the upgrade and after it.
 * 1000 (normal) is the agent's clean goodbye and 1001 its "going away".
 */
export const CloseCode = {
  /** Agent's clean goodbye: the worker is marked inactive at once. */
  normal: 1000,
  goingAway: 1001,
  /** A message failed validation (bad JSON, unknown type, absurd values). */
  badMessage: 4400,
  /** The worker's credential was rotated or no longer matches. */
  unauthorized: 4401,
  /** The worker connects from an address other than its registered one. */
  forbidden: 4403,
  /** The worker was unregistered while connected. */
  unregistered: 4404,
  /** No heartbeat or pong within the timeout. */
  heartbeatTimeout: 4408,
  /** A newer connection for the same worker took over. */
  replaced: 4409,
  /** The message was larger than the protocol allows. */
  messageTooBig: 4413,
  /** The peer speaks another protocol version. */
  unsupportedVersion: 4426,
  /** Too many messages in too little time. */
  tooManyMessages: 4429,
  /** The master is shutting down; reconnect to it (or its successor) soon. */
  shuttingDown: 4503,
} as const;

export type CloseCodeName = keyof typeof CloseCode;
export type CloseCodeValue = (typeof CloseCode)[CloseCodeName];

/** How the agent reacts to a close code or a refused upgrade. */
export type Reaction =
  /** Reconnect with the normal backoff. */
  | 'retry'
  /** Only an admin can fix this: say what to do, retry about once a minute. */
  | 'retry-slowly'
  /** Nothing will change by retrying with this build (e.g. protocol version): retry slowly too, but say so. */
  | 'upgrade-agent';

export function closeCodeName(code: number): string {
  for (const [name, value] of Object.entries(CloseCode)) {
    if (value === code) return name;
  }
  return `code ${code}`;
}

export function reactionToClose(code: number): Reaction {
  switch (code) {
    case CloseCode.unauthorized:
    case CloseCode.forbidden:
    case CloseCode.unregistered:
      return 'retry-slowly';
    case CloseCode.unsupportedVersion:
      return 'upgrade-agent';
    default:
      return 'retry';
  }
}

/** Refusals at the upgrade are HTTP statuses; the same reactions apply. */
export function reactionToHttpStatus(status: number): Reaction {
  switch (status) {
    case 401:
    case 403:
    case 404:
      return 'retry-slowly';
    case 426:
      return 'upgrade-agent';
    default:
      return 'retry';
  }
}
