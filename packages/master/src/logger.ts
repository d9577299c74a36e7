import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Censored wherever they appear at the top of a log object or one level down.
 * The server never logs a token, a hash or a password on purpose; this is the
 * net under that rule (an `authorization` header, a `token` field).
 */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'token_hash',
  '*.token_hash',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
];

export interface MasterLoggerSettings {
  level: LogLevel;
  /** Where JSON lines go (one per event); stdout when absent. */
  destination?: DestinationStream;
}

/** The daemon's logger: JSON lines for journald, ISO timestamps, secrets redacted. */
export function createMasterLogger(settings: MasterLoggerSettings): Logger {
  const options: LoggerOptions = {
    name: 'cluster-master',
    level: settings.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return settings.destination === undefined ? pino(options) : pino(options, settings.destination);
}
