import { expect, test } from 'vitest';
import { SessionRegistry } from './session-registry.js';

test('one session per worker; claiming replaces; only the current one is released', () => {
  const registry = new SessionRegistry<{ workerId: string; n: number }>();
  const a = { workerId: 'w', n: 1 };
  const b = { workerId: 'w', n: 2 };
  expect(registry.claim(a)).toBeUndefined();
  expect(registry.claim(b)).toBe(a);
  expect(registry.isCurrent(a)).toBe(false);
  expect(registry.release(a)).toBe(false);
  expect(registry.get('w')).toBe(b);
  expect(registry.release(b)).toBe(true);
  expect(registry.size).toBe(0);
});
