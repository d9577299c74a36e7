import { createDaemonLogger, type LogLevel } from '@cluster/logging';
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
  return createDaemonLogger({
    name: 'cluster-agent',
    level: settings.level,
    // A destination given (tests) is where the lines must go: JSON there.
    pretty: settings.pretty === true && settings.destination === undefined,
    // Synchronous writes: the agent logs a few lines a minute, and a line
    // written asynchronously just before process.exit() can land out of order
    // or not at all (the "stopped" line of a shutdown, for one).
    destination: settings.destination ?? pino.destination({ fd: 1, sync: true }),
  });
}
