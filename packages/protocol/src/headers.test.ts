import { describe, expect, it } from 'vitest';
import { bearer, parseBearer } from './headers.js';
import { isValidWorkerId } from './worker-id.js';

describe('bearer tokens', () => {
  it('round-trip and refuse anything else', () => {
    const token = 'abcdefghijklmnopqrstuvwxyz_-0123';
    expect(parseBearer(bearer(token))).toBe(token);
    expect(parseBearer(undefined)).toBeUndefined();
    expect(parseBearer('Basic abc')).toBeUndefined();
    expect(parseBearer('Bearer short')).toBeUndefined();
    expect(parseBearer(`Bearer ${token}\r\nX: y`)).toBeUndefined();
  });
});

describe('worker ids', () => {
  it.each(['worker-1', 'gpu01.rack2', 'A_b-c.9', 'x'.repeat(64)])('accepts %s', (id) => {
    expect(isValidWorkerId(id)).toBe(true);
  });
  it.each(['', 'x'.repeat(65), '-lead', '.dot', '{"$gt":""}', 'a$b', 'a b', 'a\nb', 'ümlaut', 'a/b', 42, null])(
    'refuses %j',
    (id) => {
      expect(isValidWorkerId(id)).toBe(false);
    },
  );
});
