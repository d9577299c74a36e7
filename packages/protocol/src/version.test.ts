import { describe, expect, it } from 'vitest';
import { ACCEPTED_PROTOCOL_VERSIONS, PROTOCOL_VERSION, previousProtocolVersion, protocolVersionFromHeader } from './version.js';

describe('protocol versions', () => {
  it('the newest is the last accepted one, and the previous one is still accepted', () => {
    expect(ACCEPTED_PROTOCOL_VERSIONS.at(-1)).toBe(PROTOCOL_VERSION);
    expect(ACCEPTED_PROTOCOL_VERSIONS).toContain(PROTOCOL_VERSION - 1);
  });

  it.each([
    ['1', 1],
    ['2', 2],
    ['3', undefined],
    ['0', undefined],
    ['01', undefined],
    ['2.0', undefined],
    [' 2', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('header %j names version %j', (header, version) => {
    expect(protocolVersionFromHeader(header)).toBe(version);
  });

  it('an agent steps down one accepted version at a time, to none below the oldest', () => {
    expect(previousProtocolVersion(2)).toBe(1);
    expect(previousProtocolVersion(1)).toBeUndefined();
  });
});
