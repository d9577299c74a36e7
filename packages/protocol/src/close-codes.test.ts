import { describe, expect, it } from 'vitest';
import { CloseCode, closeCodeName, reactionToClose, reactionToHttpStatus } from './close-codes.js';

describe('close codes', () => {
  it('are unique and in the private range, except the standard goodbyes', () => {
    const values = Object.values(CloseCode);
    expect(new Set(values).size).toBe(values.length);
    for (const v of values) expect(v === 1000 || v === 1001 || (v >= 4000 && v <= 4999)).toBe(true);
  });

  it('define a reaction for each code', () => {
    expect(reactionToClose(CloseCode.unregistered)).toBe('retry-slowly');
    expect(reactionToClose(CloseCode.unauthorized)).toBe('retry-slowly');
    expect(reactionToClose(CloseCode.forbidden)).toBe('retry-slowly');
    expect(reactionToClose(CloseCode.replaced)).toBe('retry');
    expect(reactionToClose(CloseCode.shuttingDown)).toBe('retry');
    expect(reactionToClose(CloseCode.heartbeatTimeout)).toBe('retry');
    expect(reactionToClose(CloseCode.unsupportedVersion)).toBe('upgrade-agent');
    expect(reactionToClose(1006)).toBe('retry');
  });

  it('map refused upgrades the same way', () => {
    expect(reactionToHttpStatus(401)).toBe('retry-slowly');
    expect(reactionToHttpStatus(403)).toBe('retry-slowly');
    expect(reactionToHttpStatus(404)).toBe('retry-slowly');
    expect(reactionToHttpStatus(426)).toBe('upgrade-agent');
    expect(reactionToHttpStatus(503)).toBe('retry');
  });

  it('name codes for logs', () => {
    expect(closeCodeName(4409)).toBe('replaced');
    expect(closeCodeName(1006)).toBe('code 1006');
  });
});
