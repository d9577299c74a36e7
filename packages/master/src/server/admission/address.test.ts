import { describe, expect, test } from 'vitest';
import { AddressMatcher, normaliseAddress } from './address.js';
import { ManualClock } from '../test-support/fakes.js';

describe('normaliseAddress', () => {
  test('IPv4-mapped IPv6 becomes IPv4; case is folded', () => {
    expect(normaliseAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normaliseAddress('::FFFF:10.0.0.1')).toBe('10.0.0.1');
    expect(normaliseAddress('FE80::1')).toBe('fe80::1');
    expect(normaliseAddress('10.0.0.1')).toBe('10.0.0.1');
  });
});

describe('AddressMatcher', () => {
  test('host names are resolved once per ttl; failures match nothing', async () => {
    const clock = new ManualClock();
    let lookups = 0;
    const matcher = new AddressMatcher(
      (host) => {
        lookups += 1;
        return host === 'bad.example' ? Promise.reject(new Error('ENOTFOUND')) : Promise.resolve(['10.0.0.5']);
      },
      clock,
      1_000,
    );
    expect(await Promise.all([matcher.matches('n.example', '10.0.0.5'), matcher.matches('n.example', '10.0.0.6')])).toEqual([
      true,
      false,
    ]);
    expect(lookups).toBe(1);
    clock.advance(1_001);
    expect(await matcher.matches('n.example', '10.0.0.5')).toBe(true);
    expect(lookups).toBe(2);
    expect(await matcher.matches('bad.example', '10.0.0.5')).toBe(false);
    expect(await matcher.matches('10.0.0.5', '::ffff:10.0.0.5')).toBe(true);
  });
});
