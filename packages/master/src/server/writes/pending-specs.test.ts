import type { Specs } from '@cluster/protocol';
import { describe, expect, test } from 'vitest';
import { PendingSpecs } from './pending-specs.js';

const dgx: Specs = { total_cpu: 224, total_memory: 2015.6, total_storage: 30720, total_gpu: 8 };
const l4: Specs = { total_cpu: 32, total_memory: 251.5, total_storage: 3840, total_gpu: 1 };

describe('PendingSpecs', () => {
  test('a take is whole sets of specs, oldest first; newer specs of a queued worker keep its place', () => {
    const p = new PendingSpecs();
    p.queue('a', l4);
    p.queue('b', dgx);
    p.queue('c', l4);
    p.queue('a', dgx);
    // One set of specs: a (now dgx, still first in the queue) and b share it.
    expect(p.take(1)).toEqual([
      { worker_id: 'a', ...dgx },
      { worker_id: 'b', ...dgx },
    ]);
    expect(p.take(5)).toEqual([{ worker_id: 'c', ...l4 }]);
    expect(p.size).toBe(0);
  });

  test('a failed write puts its entries back, unless newer specs came meanwhile', async () => {
    const p = new PendingSpecs();
    p.queue('a', l4);
    p.queue('b', l4);
    const ok = await p.writeSome(10, () => {
      p.queue('a', dgx);
      return Promise.reject(new Error('down'));
    });
    expect(ok).toBe(false);
    expect(p.take(10)).toEqual([
      { worker_id: 'a', ...dgx },
      { worker_id: 'b', ...l4 },
    ]);
    expect(await p.writeSome(10, () => Promise.reject(new Error('never called')))).toBe(true);
  });
});
