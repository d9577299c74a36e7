import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { prettyDestination } from './pretty.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Whether `text` names a log level. */
export function isLogLevel(text: string): text is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(text);
}

/**
 * Censored wherever they appear at the top of a log object or one level down.
 * Neither daemon logs a token, a hash or a password on purpose; this is the
 * net under that rule (an `authorization` header, a `token` field, a future
 * `log.info({ config })`).
 */
export const REDACT_PATHS: readonly string[] = [
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

/** The options every daemon's logger starts from: its name, the level, ISO timestamps, redaction. */
export function baseLoggerOptions(name: string, level: LogLevel): LoggerOptions {
  return {
    name,
    level,
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
}

export interface JsonLoggerSettings {
  name: string;
  level: LogLevel;
  /** Where JSON lines go (one per event); pino's default (stdout) when absent. */
  destination?: DestinationStream | undefined;
}

/** A daemon's logger: JSON lines for journald, ISO timestamps, secrets redacted. */
export function createJsonLogger(settings: JsonLoggerSettings): Logger {
  const options = baseLoggerOptions(settings.name, settings.level);
  return settings.destination === undefined ? pino(options) : pino(options, settings.destination);
}

export interface DaemonLoggerSettings extends JsonLoggerSettings {
  /**
   * Readable lines (pretty.ts) instead of JSON: pass whether stdout is a
   * terminal. Written to `destination` when given, else to stdout.
   */
  pretty?: boolean | undefined;
  /** Colours in the readable lines (default: when `pretty`, unless NO_COLOR is set: the caller passes it). */
  colors?: boolean | undefined;
}

/**
 * Both daemons' logger, the same way: readable in a terminal, JSON lines
 * everywhere else (journald, a pipe, a file), where a program reads them.
 * The readable form is formatted in this process, synchronously (no worker
 * thread, no module loaded from disk), so the released single executables
 * print it too.
 */
export function createDaemonLogger(settings: DaemonLoggerSettings): Logger {
  if (settings.pretty !== true) return createJsonLogger(settings);
  const target = settings.destination ?? pino.destination({ fd: 1, sync: true });
  return createJsonLogger({ ...settings, destination: prettyDestination(target, { colors: settings.colors ?? true }) });
}

export { formatLogLine, prettyDestination, prettyPrint, type PrettyOptions } from './pretty.js';
export type { DestinationStream, Logger } from 'pino';
