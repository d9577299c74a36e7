import { describe, expect, it } from 'vitest';
import { InvalidWorkerAddressError, InvalidWorkerDataError, InvalidWorkerIdError } from '../errors.js';
import {
  assertSpecs,
  assertUnixSeconds,
  assertWorkerAddress,
  assertWorkerId,
  isHostname,
  isValidWorkerAddress,
} from './validate.js';
import { INVALID_WORKER_IDS } from './test-support/invalid-ids.js';

describe('assertWorkerId', () => {
  it.each(['w', 'worker-1', 'node_07.rack-3', 'A1', '0', 'a'.repeat(64)])('accepts %j', (id) => {
    expect(() => assertWorkerId(id)).not.toThrow();
  });

  it.each(INVALID_WORKER_IDS.map((id) => [id]))('refuses %j with INVALID_WORKER_ID', (id) => {
    expect(() => assertWorkerId(id)).toThrow(InvalidWorkerIdError);
    try {
      assertWorkerId(id);
    } catch (error) {
      expect((error as InvalidWorkerIdError).code).toBe('INVALID_WORKER_ID');
      // The message quotes the id escaped: a control character never reaches a terminal raw.
      expect([...(error as Error).message].every((char) => char >= ' ')).toBe(true);
    }
  });
});

describe('worker addresses', () => {
  it.each([
    '192.168.1.10',
    '10.0.0.1',
    '::1',
    'fe80::1',
    '2001:db8::42',
    '::ffff:192.168.1.10',
    'worker-1',
    'node7.rack3.example.com',
    '3com.example',
    'a'.repeat(63),
  ])('accepts %j', (address) => {
    expect(isValidWorkerAddress(address)).toBe(true);
    expect(() => assertWorkerAddress(address)).not.toThrow();
  });

  it.each([
    '',
    ' 10.0.0.1',
    '10.0.0.1 ',
    '256.1.1.1',
    '10.0.0',
    '1.2.3.4.5',
    '-worker',
    'worker-',
    'under_score.example',
    'a..b',
    'trailing.dot.',
    'a'.repeat(64),
    `${'a'.repeat(63)}.`.repeat(4) + 'com',
    'http://host',
    'host:8080',
    '10.0.0.1/24',
    'wörker',
    '{"$gt":""}',
    'host\nname',
  ])('refuses %j with INVALID_WORKER_ADDRESS', (address) => {
    expect(isValidWorkerAddress(address)).toBe(false);
    expect(() => assertWorkerAddress(address)).toThrow(InvalidWorkerAddressError);
  });

  it('refuses non-strings', () => {
    expect(() => assertWorkerAddress({ $ne: null })).toThrow(InvalidWorkerAddressError);
    expect(() => assertWorkerAddress(10)).toThrow(InvalidWorkerAddressError);
  });

  it('holds host names to 253 characters', () => {
    const label = 'a'.repeat(63);
    expect(isHostname([label, label, label, 'a'.repeat(61)].join('.'))).toBe(true); // 253
    expect(isHostname([label, label, label, 'a'.repeat(62)].join('.'))).toBe(false); // 254
  });
});

describe('assertSpecs', () => {
  const specs = { total_cpu: 8, total_memory: 15.6, total_storage: 500, total_gpu: 0 };

  it('accepts whole and fractional non-negative numbers', () => {
    expect(() => assertSpecs(specs)).not.toThrow();
  });

  it.each([
    ['total_cpu', -1],
    ['total_memory', Number.NaN],
    ['total_storage', Number.POSITIVE_INFINITY],
    ['total_gpu', '2'],
  ])('refuses %s = %j', (field, value) => {
    expect(() => assertSpecs({ ...specs, [field]: value })).toThrow(InvalidWorkerDataError);
  });
});

describe('assertUnixSeconds', () => {
  it.each([0, 1697371234, Number.MAX_SAFE_INTEGER])('accepts %j', (value) => {
    expect(() => assertUnixSeconds(value)).not.toThrow();
  });

  it.each([-1, 1.5, Number.NaN, 2 ** 53, '1697371234'])('refuses %j', (value) => {
    expect(() => assertUnixSeconds(value)).toThrow(InvalidWorkerDataError);
  });
});
