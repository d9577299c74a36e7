import { createDaemonLogger, type LogLevel } from '@cluster/logging';
import { pino, type DestinationStream, type Logger } from 'pino';

export { LOG_LEVELS, type LogLevel } from '@cluster/logging';

export interface LoggerSettings {
  level: LogLevel;
  /** Human-readable lines (for a terminal: @cluster/logging's pretty.ts); JSON lines otherwise. */
  pretty?: boolean;
  /** Colours in those lines (not when NO_COLOR is set). */
  colors?: boolean;
  /** Where JSON lines go; stdout by default. */
  destination?: DestinationStream;
}

export function createLogger(settings: LoggerSettings): Logger {
  return createDaemonLogger({
    name: 'cluster-agent',
    level: settings.level,
    // A destination given (tests) is where the lines must go: JSON there.
    pretty: settings.pretty === true && settings.destination === undefined,
    colors: settings.colors,
    // Synchronous writes: the agent logs a few lines a minute, and a line
    // written asynchronously just before process.exit() can land out of order
    // or not at all (the "stopped" line of a shutdown, for one).
    destination: settings.destination ?? pino.destination({ fd: 1, sync: true }),
  });
}
