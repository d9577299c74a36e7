import { describe, expect, it } from 'vitest';
import { parseTtl } from './enroll.js';

describe('--ttl', () => {
  it('reads a number and a unit, at most 30 days', () => {
    expect(parseTtl('90s')).toBe(90_000);
    expect(parseTtl('24h')).toBe(86_400_000);
    expect(parseTtl('30d')).toBe(30 * 86_400_000);
    expect(() => parseTtl('31d')).toThrow(/at most 30d/);
    expect(() => parseTtl('1w')).toThrow(/30m, 24h or 7d/);
    expect(() => parseTtl('0h')).toThrow(/30m, 24h or 7d/);
  });
});
