import { createHash, randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A worker's credential: 32 random bytes, base64url (43 characters), which is
 * what `parseBearer` in @cluster/protocol accepts ([A-Za-z0-9_-]{16,256}).
 * Only its SHA-256 is stored. A plain hash (no salt, no slow KDF) is enough
 * because the token is 256 random bits, not a password a person chose: there
 * is no dictionary to try, and admission stays cheap during reconnect storms.
 */
export const TOKEN_BYTES = 32;

export type RandomBytes = (size: number) => Buffer;

export function generateToken(randomBytes: RandomBytes = cryptoRandomBytes): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/** Lowercase hex SHA-256 of the token's UTF-8 bytes. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const SHA256_HEX = /^[0-9a-f]{64}$/i;

/**
 * Whether `token` hashes to `storedHashHex`, compared in constant time so the
 * comparison leaks nothing about how much of a guess was right. A malformed
 * stored hash never matches.
 */
export function tokensMatch(token: string, storedHashHex: string): boolean {
  if (typeof token !== 'string' || typeof storedHashHex !== 'string' || !SHA256_HEX.test(storedHashHex)) {
    return false;
  }
  const expected = Buffer.from(storedHashHex, 'hex');
  const actual = createHash('sha256').update(token, 'utf8').digest();
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
