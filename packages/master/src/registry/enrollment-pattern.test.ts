import { describe, expect, it } from 'vitest';
import { checkEnrollmentPattern, matchesEnrollmentPatterns } from './enrollment-pattern.js';
import { enrollmentTokenState } from './enrollment-token-store.js';

describe('enrollment patterns', () => {
  it('globs, ranges and exact ids; no pattern: any id', () => {
    expect(matchesEnrollmentPatterns([], 'anything')).toBe(true);
    expect(matchesEnrollmentPatterns(['gpu-*'], 'gpu-07')).toBe(true);
    expect(matchesEnrollmentPatterns(['gpu-*'], 'cpu-07')).toBe(false);
    expect(matchesEnrollmentPatterns(['gpu-??'], 'gpu-100')).toBe(false);
    expect(matchesEnrollmentPatterns(['gpu-[01-64]'], 'gpu-64')).toBe(true);
    expect(matchesEnrollmentPatterns(['gpu-[01-64]'], 'gpu-65')).toBe(false);
    expect(matchesEnrollmentPatterns(['n1.lab'], 'n1xlab')).toBe(false);
    expect(matchesEnrollmentPatterns(['a-1', 'b-*'], 'b-2')).toBe(true);
  });

  it('refuses patterns that cannot name worker ids', () => {
    expect(checkEnrollmentPattern('gpu-*')).toBeUndefined();
    expect(checkEnrollmentPattern('gpu-[01-64]')).toBeUndefined();
    expect(checkEnrollmentPattern('gpu $(rm)')).toMatch(/characters of worker ids/);
    expect(checkEnrollmentPattern('gpu-[3-1]')).toMatch(/backwards/);
    expect(checkEnrollmentPattern('gpu-[1-3]*')).toMatch(/either a glob or a range/);
    expect(checkEnrollmentPattern('')).toMatch(/1 to 128/);
  });
});

describe('enrollment token state', () => {
  const now = new Date('2026-01-01T12:00:00Z');
  const live = { revoked_at: null, expires_at: new Date('2026-01-02T00:00:00Z'), max_uses: 2, uses: 1 };
  it('live, revoked, expired, used up', () => {
    expect(enrollmentTokenState(live, now)).toBeUndefined();
    expect(enrollmentTokenState({ ...live, revoked_at: now }, now)).toBe('revoked');
    expect(enrollmentTokenState({ ...live, expires_at: now }, now)).toBe('expired');
    expect(enrollmentTokenState({ ...live, uses: 2 }, now)).toBe('used-up');
    expect(enrollmentTokenState({ ...live, max_uses: null, uses: 10_000 }, now)).toBeUndefined();
  });
});
