import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Paths pino censors wherever they appear at the top of a log object or one
 * level down. The agent never logs its credential on purpose; this is the net
 * under that rule, for a future `log.info({ config })` or `{ headers }`.
 */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
];

export interface LoggerSettings {
  level: LogLevel;
  /** Human-readable output through pino-pretty (for a terminal); JSON lines otherwise. */
  pretty?: boolean;
  /** Where JSON lines go; stdout by default. */
  destination?: DestinationStream;
}

export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    name: 'cluster-agent',
    level: settings.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const pretty = settings.pretty === true && settings.destination === undefined ? prettyTarget() : undefined;
  if (pretty !== undefined) {
    return pino({ ...options, transport: { target: pretty, options: { destination: 1, translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  // Synchronous writes: the agent logs a few lines a minute, and a line
  // written asynchronously just before process.exit() can land out of order
  // or not at all (the "stopped" line of a shutdown, for one).
  return pino(options, settings.destination ?? pino.destination({ fd: 1, sync: true }));
}

/** pino-pretty is a development dependency; without it the output stays JSON. */
function prettyTarget(): string | undefined {
  try {
    return import.meta.resolve('pino-pretty');
  } catch {
    return undefined;
  }
}
