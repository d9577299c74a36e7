import { createHash } from 'node:crypto';
import { parseBearer } from '@cluster/protocol';
import { describe, expect, it } from 'vitest';
import { generateToken, hashToken, tokensMatch } from './token.js';

describe('generateToken', () => {
  it('is 32 random bytes in base64url, which the protocol accepts as a bearer token', () => {
    const token = generateToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(parseBearer(`Bearer ${token}`)).toBe(token);
  });

  it('uses the random source it is given', () => {
    expect(generateToken((size) => Buffer.alloc(size, 0xff))).toBe('_'.repeat(42) + '8');
  });

  it('differs each time', () => {
    expect(new Set(Array.from({ length: 50 }, () => generateToken())).size).toBe(50);
  });
});

describe('hashToken', () => {
  it('is the lowercase hex SHA-256 of the token', () => {
    expect(hashToken('abc')).toBe(createHash('sha256').update('abc').digest('hex'));
    expect(hashToken('abc')).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('tokensMatch', () => {
  const token = generateToken();
  const stored = hashToken(token);

  it('accepts the token whose hash is stored, in either hex case', () => {
    expect(tokensMatch(token, stored)).toBe(true);
    expect(tokensMatch(token, stored.toUpperCase())).toBe(true);
  });

  it('refuses another token', () => {
    expect(tokensMatch(generateToken(), stored)).toBe(false);
    expect(tokensMatch(`${token}x`, stored)).toBe(false);
    expect(tokensMatch('', stored)).toBe(false);
  });

  it('refuses malformed stored hashes instead of throwing', () => {
    expect(tokensMatch(token, '')).toBe(false);
    expect(tokensMatch(token, stored.slice(0, 62))).toBe(false);
    expect(tokensMatch(token, `${stored}00`)).toBe(false);
    expect(tokensMatch(token, 'z'.repeat(64))).toBe(false);
    expect(tokensMatch(token, undefined as unknown as string)).toBe(false);
  });
});
