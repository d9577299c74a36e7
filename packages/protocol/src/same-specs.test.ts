import { describe, expect, test } from 'vitest';
import { sameSpecs } from './same-specs.js';

describe('sameSpecs', () => {
  const a = { total_cpu: 1, total_memory: 2, total_storage: 3, total_gpu: 0 };

  test('equal values in different objects are the same', () => {
    expect(sameSpecs(a, { ...a })).toBe(true);
  });

  test.each(['total_cpu', 'total_memory', 'total_storage', 'total_gpu'] as const)('a different %s is a change', (field) => {
    expect(sameSpecs(a, { ...a, [field]: a[field] + 0.5 })).toBe(false);
  });
});
