import { createJsonLogger, type DestinationStream, type Logger, type LogLevel } from '@cluster/logging';

export { LOG_LEVELS, type LogLevel } from '@cluster/logging';

export interface MasterLoggerSettings {
  level: LogLevel;
  /** Where JSON lines go (one per event); stdout when absent. */
  destination?: DestinationStream;
}

/** The daemon's logger: JSON lines for journald, ISO timestamps, secrets redacted. */
export function createMasterLogger(settings: MasterLoggerSettings): Logger {
  return createJsonLogger({ name: 'cluster-master', ...settings });
}
