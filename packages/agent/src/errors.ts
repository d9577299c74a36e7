/**
 * The stable codes of the agent's one-line errors. The line has the same form
 * as cluster-master's (`cluster-master: error [USAGE]: …`), so a script or a
 * person reads both daemons' errors alike; codes shared with the master mean
 * the same thing there.
 */
export type ErrorCode =
  /** The command line or the environment is wrong (exit 2). */
  | 'USAGE'
  /** The worker id is outside the safe set (exit 2). */
  | 'INVALID_WORKER_ID'
  /** Anything unexpected (exit 1): the message only, never a stack trace. */
  | 'INTERNAL';

/** A bad setting found before any connection: one line on stderr, exit 2. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly code: ErrorCode = 'USAGE',
  ) {
    super(message);
  }
}

/** `cluster-agent: error [CODE]: message`, one line; usage errors point at --help unless they already do. */
export function errorLine(code: ErrorCode, message: string): string {
  const text = message.replace(/\s+/g, ' ').trim();
  const hint = code === 'USAGE' && !text.includes('--help') ? ' (see --help)' : '';
  return `cluster-agent: error [${code}]: ${text}${hint}`;
}
