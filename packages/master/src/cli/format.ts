import type { Worker } from '../registry/worker.js';
import { gpuSummary, hardwareDetails } from './hardware-format.js';

/** "4s ago", "3m ago", "2h ago", "5d ago"; "never" for 0 (the contract's "not yet seen"). */
export function relativeTime(unixSeconds: number, nowUnixSeconds: number): string {
  if (unixSeconds === 0) return 'never';
  const delta = nowUnixSeconds - unixSeconds;
  // The master's clock may run ahead of the admin's machine.
  const ahead = delta < 0;
  const seconds = Math.abs(delta);
  const text =
    seconds < 120
      ? `${seconds}s`
      : seconds < 2 * 3600
        ? `${Math.floor(seconds / 60)}m`
        : seconds < 2 * 86_400
          ? `${Math.floor(seconds / 3600)}h`
          : `${Math.floor(seconds / 86_400)}d`;
  return ahead ? `in ${text}` : `${text} ago`;
}

/** Whole numbers without decimals, others with at most two: 8, 15.62, 0.5. */
export function formatAmount(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 100) / 100);
}

/** ISO 8601 to the second: 2025-10-15T10:30:00Z. */
export function formatDate(date: Date): string {
  return Number.isNaN(date.getTime()) ? '-' : date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function unixSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/** Columns padded to their widest cell; numbers right-aligned so digits line up. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number> = new Set()): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => (rightAligned.has(column) ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

const HEADERS = ['WORKER_ID', 'IP', 'ACTIVE', 'CPU', 'MEMORY_GIB', 'STORAGE_GB', 'GPU', 'LAST_HEARTBEAT', 'REGISTERED_AT'];
const NUMERIC_COLUMNS = new Set([3, 4, 5, 6]);

/** `enrolled`: when each enrolled worker got its credential by enrollment; the column shows only when some did. */
export function formatWorkerTable(workers: readonly Worker[], now: Date, enrolled?: ReadonlyMap<string, Date>): string {
  const nowSeconds = unixSeconds(now);
  // The GPU models only when some worker reported an inventory: a fleet of version 1 agents reads as before.
  const models = workers.some((worker) => worker.hardware !== undefined);
  const enrollment = enrolled !== undefined && workers.some((worker) => enrolled.has(worker.worker_id));
  return formatTable(
    [...HEADERS, ...(models ? ['GPU_MODEL'] : []), ...(enrollment ? ['ENROLLED_AT'] : [])],
    workers.map((worker) => [
      worker.worker_id,
      worker.worker_ip,
      worker.is_active ? 'yes' : 'no',
      formatAmount(worker.total_cpu),
      formatAmount(worker.total_memory),
      formatAmount(worker.total_storage),
      formatAmount(worker.total_gpu),
      relativeTime(worker.last_heartbeat, nowSeconds),
      formatDate(worker.registered_at),
      ...(models ? [gpuSummary(worker.hardware)] : []),
      ...(enrollment ? [enrolledCell(enrolled.get(worker.worker_id))] : []),
    ]),
    NUMERIC_COLUMNS,
  );
}

function enrolledCell(at: Date | undefined): string {
  return at === undefined ? '-' : formatDate(at);
}

/** One field per line, named as in the database, for `worker show`. */
export function formatWorkerDetails(worker: Worker, now: Date): string {
  const heartbeat =
    worker.last_heartbeat === 0
      ? '0 (never)'
      : `${worker.last_heartbeat} (${relativeTime(worker.last_heartbeat, unixSeconds(now))})`;
  const rows: [string, string][] = [
    ['worker_id', worker.worker_id],
    ['worker_ip', worker.worker_ip],
    ['is_active', String(worker.is_active)],
    ['total_cpu', formatAmount(worker.total_cpu)],
    ['total_memory', `${formatAmount(worker.total_memory)} GiB`],
    ['total_storage', `${formatAmount(worker.total_storage)} GB`],
    ['total_gpu', formatAmount(worker.total_gpu)],
    ['last_heartbeat', heartbeat],
    ['registered_at', formatDate(worker.registered_at)],
    ['updated_at', formatDate(worker.updated_at)],
    ...(worker.hardware === undefined ? [] : hardwareDetails(worker.hardware)),
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n');
}

/** The JSON form is the registry's (the HTTP API uses it too); the CLI's commands take it from here. */
export { workerToJson } from '../registry/worker-json.js';
