import type { WorkerEvent } from '../history/worker-event.js';
import { formatTable } from './format.js';

/** An event's detail as `key=value` pairs, one line (from → to shown as `from→to`). */
export function formatDetail(detail: Record<string, unknown> | undefined): string {
  if (detail === undefined) return '';
  const text = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));
  if ('from' in detail && 'to' in detail) {
    const rest = Object.entries(detail).filter(([key]) => key !== 'from' && key !== 'to');
    return [`${text(detail.from)} → ${text(detail.to)}`, ...rest.map(([key, value]) => `${key}=${text(value)}`)].join(' ');
  }
  return Object.entries(detail)
    .filter(([, value]) => value !== null)
    .map(([key, value]) => `${key}=${text(value)}`)
    .join(' ');
}

/** The master's instance id shortened to its first block (the full one is in --json). */
function shortInstance(instance: string): string {
  return instance.startsWith('cli@') ? instance : instance.split('-')[0] ?? instance;
}

export function eventRow(event: WorkerEvent): string[] {
  return [event.at.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'), event.worker_id, event.kind, event.cause ?? '', shortInstance(event.instance), formatDetail(event.detail)];
}

export const EVENT_HEADERS = ['TIME', 'WORKER', 'KIND', 'CAUSE', 'BY', 'DETAIL'] as const;

export function formatEventTable(events: readonly WorkerEvent[]): string {
  return formatTable(EVENT_HEADERS, events.map(eventRow));
}
