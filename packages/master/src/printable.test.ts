import { describe, expect, test } from 'vitest';
import { escapeUnprintable, printableForLog, quote } from './printable.js';

const UNSAFE = /[^\x20-\x7e…]/u;

describe('escapeUnprintable', () => {
  test.each([
    ['a\u007fb', 'a\\u007fb'],
    ['\u009b31mred', '\\u009b31mred'],
    ['\u202eevil', '\\u202eevil'],
    ['zero\u200bwidth', 'zero\\u200bwidth'],
    ['line\u2028sep', 'line\\u2028sep'],
    ['caf\u00e9', 'caf\\u00e9'],
    ['\u{1f600}', '\\ud83d\\ude00'],
  ])('%j -> %s', (input, expected) => {
    expect(escapeUnprintable(input)).toBe(expected);
  });

  test('printable ASCII is left alone', () => {
    const ascii = Array.from({ length: 0x5f }, (_, i) => String.fromCharCode(0x20 + i)).join('');
    expect(escapeUnprintable(ascii)).toBe(ascii);
  });
});

describe('quote', () => {
  test('quotes, escapes JSON specials and everything outside printable ASCII', () => {
    expect(quote('a"b\\c\n\u202e')).toBe('"a\\"b\\\\c\\n\\u202e"');
    expect(quote(42)).toBe('"42"');
  });

  test('cuts long values at 80 characters, the ellipsis inside the quotes', () => {
    const shown = quote('x'.repeat(200));
    expect(shown).toBe(`"${'x'.repeat(80)}…"`);
  });

  test('a cut through a surrogate pair leaves only escapes', () => {
    const shown = quote(`${'x'.repeat(79)}\u{1f600}`);
    expect(UNSAFE.test(shown)).toBe(false);
  });
});

describe('printableForLog', () => {
  test('escapes and bounds what failed validation', () => {
    expect(printableForLog('a\r\nb')).toBe('a\\u000d\\u000ab');
    expect(printableForLog('x'.repeat(100))).toBe(`${'x'.repeat(64)}…`);
    expect(printableForLog(['a', 'b'])).toBe('a,b');
    expect(printableForLog(undefined)).toBeUndefined();
  });

  test('never cuts an escape in two and stays within the bound', () => {
    const shown = printableForLog(`${'x'.repeat(60)}\u202e\u202e`) ?? '';
    expect(shown).toBe(`${'x'.repeat(60)}…`);
    expect(printableForLog('\u0001'.repeat(100))?.length).toBeLessThanOrEqual(65);
  });
});
