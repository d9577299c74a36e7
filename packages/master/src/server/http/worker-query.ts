import type { WorkerFilter } from '../../registry/worker.js';
import { quote } from '../../printable.js';

/** A query string /api/workers cannot answer; the message goes back as the 400 body. */
export class BadQueryError extends Error {
  override name = 'BadQueryError';
}

const FLAGS = new Set(['active', 'inactive', 'gpu']);
const VALUES = new Set(['ip', 'min-cpu', 'min-memory', 'stale', 'gpu-model', 'min-gpu-memory', 'arch']);

function flag(params: URLSearchParams, name: string): boolean {
  const values = params.getAll(name);
  if (values.length === 0) return false;
  if (values.length > 1) throw new BadQueryError(`give ${name} once`);
  const value = values[0];
  if (value === '' || value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new BadQueryError(`${name} is a flag: ${name}, ${name}=true or ${name}=false`);
}

function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) throw new BadQueryError(`give ${name} once`);
  return values[0];
}

function nonNegative(params: URLSearchParams, name: string, integer = false): number | undefined {
  const text = single(params, name);
  if (text === undefined) return undefined;
  const number = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(number) || number < 0 || (integer && !Number.isInteger(number))) {
    throw new BadQueryError(`${name} needs ${integer ? 'a whole number' : 'a number'} >= 0`);
  }
  return number;
}

/**
 * The filters of `worker list` as query parameters, with the same names and
 * rules (`?active&gpu&min-cpu=8`, `?stale=60`); unknown parameters are
 * refused, like unknown flags, so a typo never widens the answer silently.
 */
export function workerFilterFromQuery(params: URLSearchParams, nowUnixSeconds: number): WorkerFilter {
  for (const name of params.keys()) {
    if (!FLAGS.has(name) && !VALUES.has(name)) throw new BadQueryError(`unknown parameter ${quote(name, 40)}; known: active, inactive, ip, gpu, min-cpu, min-memory, stale, gpu-model, min-gpu-memory, arch`);
  }
  const filter: WorkerFilter = {};
  const active = flag(params, 'active');
  const inactive = flag(params, 'inactive');
  if (active && inactive) throw new BadQueryError('active and inactive exclude each other');
  if (active) filter.active = true;
  if (inactive) filter.active = false;
  const ip = single(params, 'ip');
  if (ip !== undefined) filter.ip = ip;
  if (flag(params, 'gpu')) filter.gpu = true;
  const minCpu = nonNegative(params, 'min-cpu');
  if (minCpu !== undefined) filter.minCpu = minCpu;
  const minMemory = nonNegative(params, 'min-memory');
  if (minMemory !== undefined) filter.minMemory = minMemory;
  const gpuModel = single(params, 'gpu-model');
  if (gpuModel !== undefined) filter.gpuModel = gpuModel;
  const minGpuMemory = nonNegative(params, 'min-gpu-memory');
  if (minGpuMemory !== undefined) filter.minGpuMemoryGib = minGpuMemory;
  const arch = single(params, 'arch');
  if (arch !== undefined) filter.arch = arch;
  const stale = nonNegative(params, 'stale', true);
  if (stale !== undefined) {
    if (inactive) throw new BadQueryError('stale and inactive exclude each other');
    filter.staleBefore = nowUnixSeconds - stale;
  }
  return filter;
}
