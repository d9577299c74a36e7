import { isIP } from 'node:net';
import { isValidWorkerId } from '@cluster/protocol';
import { InvalidWorkerAddressError, InvalidWorkerDataError, InvalidWorkerIdError } from '../errors.js';
import type { WorkerSpecs } from './worker.js';

/**
 * Input checks at the registry's edge. A worker id is checked even on reads:
 * TypeScript cannot stop an object like `{ $gt: '' }` arriving at run time
 * from JSON, and every id this system stores is in the safe set anyway.
 */
export function assertWorkerId(value: unknown): asserts value is string {
  if (!isValidWorkerId(value)) throw new InvalidWorkerIdError(value);
}

const HOSTNAME_MAX_LENGTH = 253;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * RFC 1123 host name: dot-separated labels of letters, digits and '-', 1 to 63
 * characters each, not starting or ending with '-'. A last label made only of
 * digits is refused (RFC 3696 §2): "10.0.0.300" is a mistyped address, not a name.
 */
export function isHostname(value: string): boolean {
  if (value.length === 0 || value.length > HOSTNAME_MAX_LENGTH) return false;
  const labels = value.split('.');
  if (!labels.every((label) => LABEL.test(label))) return false;
  return !/^[0-9]+$/.test(labels[labels.length - 1] ?? '');
}

/** An IPv4 address, an IPv6 address (node:net's isIP) or an RFC 1123 host name. */
export function isValidWorkerAddress(value: unknown): value is string {
  return typeof value === 'string' && (isIP(value) !== 0 || isHostname(value));
}

export function assertWorkerAddress(value: unknown): asserts value is string {
  if (!isValidWorkerAddress(value)) throw new InvalidWorkerAddressError(value);
}

const SPEC_FIELDS = ['total_cpu', 'total_memory', 'total_storage', 'total_gpu'] as const;

export function assertSpecs(specs: WorkerSpecs): void {
  for (const field of SPEC_FIELDS) {
    const value: unknown = specs[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new InvalidWorkerDataError(`${field} must be a finite number >= 0, got ${String(value)}`);
    }
  }
}

/** last_heartbeat is Int64 unix seconds: a whole, non-negative number JS can hold exactly. */
export function assertUnixSeconds(value: unknown, what = 'last_heartbeat'): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidWorkerDataError(`${what} must be whole unix seconds >= 0, got ${String(value)}`);
  }
}
