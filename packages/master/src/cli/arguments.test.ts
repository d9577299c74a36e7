import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { nonNegativeNumber, singleString } from './arguments.js';

describe('nonNegativeNumber', () => {
  const cpu = nonNegativeNumber('min-cpu');
  const seconds = nonNegativeNumber('stale', { integer: true });

  it.each([
    ['4', 4],
    ['0', 0],
    ['7.5', 7.5],
  ])('reads %j as %d', (text, value) => {
    expect(cpu(text)).toBe(value);
  });

  it.each(['abc', '', '-1', 'Infinity', '1e999'])('refuses %j naming the flag', (text) => {
    expect(() => cpu(text)).toThrow(UsageError);
    expect(() => cpu(text)).toThrow('--min-cpu');
  });

  it('asks for whole numbers where it must', () => {
    expect(seconds('300')).toBe(300);
    expect(() => seconds('1.5')).toThrow('whole number');
  });

  it('refuses a repeated flag', () => {
    expect(() => cpu(['1', '2'])).toThrow('once');
    expect(() => singleString('ip')(['a', 'b'])).toThrow('once');
  });
});
