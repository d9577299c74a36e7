import { createDaemonLogger, type DestinationStream, type Logger, type LogLevel } from '@cluster/logging';

export { LOG_LEVELS, type LogLevel } from '@cluster/logging';

export interface MasterLoggerSettings {
  level: LogLevel;
  /** Where JSON lines go (one per event); stdout when absent. */
  destination?: DestinationStream;
  /** Readable lines on stdout instead (pass whether stdout is a terminal), as the agent's. */
  pretty?: boolean;
  /** Colours in those lines (not when NO_COLOR is set). */
  colors?: boolean;
}

/** The daemon's logger: JSON lines for journald (readable in a terminal), ISO timestamps, secrets redacted. */
export function createMasterLogger(settings: MasterLoggerSettings): Logger {
  return createDaemonLogger({ name: 'cluster-master', ...settings });
}
