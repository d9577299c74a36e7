import { expect, test } from 'vitest';
import { SessionTable } from './session-table.js';

test('one session per worker; claiming replaces; only the current one is released', () => {
  const table = new SessionTable<{ workerId: string; n: number }>();
  const a = { workerId: 'w', n: 1 };
  const b = { workerId: 'w', n: 2 };
  expect(table.claim(a)).toBeUndefined();
  expect(table.claim(b)).toBe(a);
  expect(table.isCurrent(a)).toBe(false);
  expect(table.release(a)).toBe(false);
  expect(table.get('w')).toBe(b);
  expect(table.isCurrent(b)).toBe(true);
  expect(table.release(b)).toBe(true);
  expect(table.isCurrent(b)).toBe(false);
  expect(table.size).toBe(0);
});

test('a session claimed again after its release is current again; claiming the current one again keeps it', () => {
  const table = new SessionTable<{ workerId: string }>();
  const a = { workerId: 'w' };
  table.claim(a);
  expect(table.claim(a)).toBeUndefined();
  expect(table.isCurrent(a)).toBe(true);
  table.release(a);
  table.claim(a);
  expect(table.isCurrent(a)).toBe(true);
  expect(table.get('w')).toBe(a);
});
