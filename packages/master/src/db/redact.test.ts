import { describe, expect, it } from 'vitest';
import { scrubSecrets } from './redact.js';

describe('scrubSecrets', () => {
  it('hides every occurrence of every secret', () => {
    expect(scrubSecrets('pw=s3cret and again s3cret', ['s3cret'])).toBe('pw=*** and again ***');
  });

  it('hides the longer secret first, so no part of it survives', () => {
    expect(scrubSecrets('x p%40ss x', ['p', 'p%40ss'])).toBe('x *** x');
  });

  it('ignores empty secrets and leaves text without secrets alone', () => {
    expect(scrubSecrets('nothing here', ['', 'absent'])).toBe('nothing here');
  });
});
