import { baseLoggerOptions, type LogLevel } from '@cluster/logging';
import { pino, type DestinationStream, type Logger } from 'pino';

export { LOG_LEVELS, type LogLevel } from '@cluster/logging';

export interface LoggerSettings {
  level: LogLevel;
  /** Human-readable output through pino-pretty (for a terminal); JSON lines otherwise. */
  pretty?: boolean;
  /** Where JSON lines go; stdout by default. */
  destination?: DestinationStream;
}

export function createLogger(settings: LoggerSettings): Logger {
  const options = baseLoggerOptions('cluster-agent', settings.level);
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
