import type { DestinationStream } from 'pino';

export type LogEntry = Record<string, unknown> & { level: number; msg?: string; event?: string };

/** Collects the JSON lines a pino logger writes, so tests can wait on events instead of sleeping. */
export interface CapturedLogs {
  destination: DestinationStream;
  readonly entries: readonly LogEntry[];
  /** Everything written, raw, for "never in a log line" checks. */
  text(): string;
  /** Position to search from later. */
  mark(): number;
  events(event: string, from?: number): LogEntry[];
  /** Resolves with the first entry at index ≥ from with this event (already there or yet to come). */
  waitFor(event: string, from?: number): Promise<LogEntry>;
}

export function captureLogs(): CapturedLogs {
  const raw: string[] = [];
  const entries: LogEntry[] = [];
  const waiters: { event: string; from: number; resolve: (e: LogEntry) => void }[] = [];
  const destination: DestinationStream = {
    write(line: string) {
      raw.push(line);
      for (const l of line.split('\n')) {
        if (l.trim() === '') continue;
        const entry = JSON.parse(l) as LogEntry;
        entries.push(entry);
        const index = entries.length - 1;
        for (let i = waiters.length - 1; i >= 0; i--) {
          const w = waiters[i];
          if (w && w.event === entry.event && index >= w.from) {
            waiters.splice(i, 1);
            w.resolve(entry);
          }
        }
      }
    },
  };
  return {
    destination,
    entries,
    text: () => raw.join(''),
    mark: () => entries.length,
    events: (event, from = 0) => entries.slice(from).filter((e) => e.event === event),
    waitFor(event, from = 0) {
      const found = entries.slice(from).find((e) => e.event === event);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ event, from, resolve }));
    },
  };
}
