import { describe, expect, it } from 'vitest';
import { processHeap, startHeapTrim, type HeapAccess } from './heap-trim.js';
import type { Timers } from './timers.js';

/** Timers run by hand: `tick()` runs what is due, one interval at a time. */
function manualTimers() {
  let pending: { callback: () => void; ms: number } | undefined;
  const timers: Timers = {
    setTimeout(callback, ms) {
      pending = { callback, ms };
      return pending;
    },
    clearTimeout(handle) {
      if (handle === pending) pending = undefined;
    },
  };
  return {
    timers,
    get pending() {
      return pending;
    },
    tick() {
      const due = pending;
      pending = undefined;
      due?.callback();
    },
  };
}

/** An old generation whose size the test sets; a collection brings it down to `live`. */
function fakeHeap(used: number, live: number) {
  const heap = {
    used,
    live,
    collections: 0,
    oldGenerationUsedBytes: () => heap.used,
    collect() {
      heap.collections += 1;
      heap.used = heap.live;
    },
  };
  return heap;
}

const options = { everyMs: 5_000, slackBytes: 1_000 };

describe('startHeapTrim', () => {
  it('leaves the heap alone while the old generation stays within the slack', () => {
    const clock = manualTimers();
    const heap = fakeHeap(10_000, 10_000);
    const trim = startHeapTrim(heap, clock.timers, options);
    expect(clock.pending?.ms).toBe(5_000);
    for (const used of [10_500, 11_000, 10_200]) {
      heap.used = used;
      clock.tick();
    }
    expect(heap.collections).toBe(0);
    expect(trim.collections).toBe(0);
  });

  it('collects once the old generation holds more than the slack beyond the last floor, then measures from what is left', () => {
    const clock = manualTimers();
    const heap = fakeHeap(10_000, 10_000);
    const trim = startHeapTrim(heap, clock.timers, options);
    heap.used = 11_001;
    clock.tick();
    expect(heap.collections).toBe(1);
    // Live data grew to 10,800: the next collection waits for 1,000 more than that.
    heap.live = 10_800;
    heap.used = 11_700;
    clock.tick();
    expect(heap.collections).toBe(2);
    heap.used = 11_800;
    clock.tick();
    expect(heap.collections).toBe(2);
    heap.used = 11_801;
    clock.tick();
    expect(heap.collections).toBe(3);
    expect(trim.collections).toBe(3);
  });

  it('takes a collection V8 ran on its own as the new floor', () => {
    const clock = manualTimers();
    const heap = fakeHeap(10_000, 10_000);
    startHeapTrim(heap, clock.timers, options);
    heap.used = 8_000;
    clock.tick();
    heap.used = 9_500;
    clock.tick();
    expect(heap.collections).toBe(1);
  });

  it('stops looking when stopped', () => {
    const clock = manualTimers();
    const heap = fakeHeap(10_000, 10_000);
    const trim = startHeapTrim(heap, clock.timers, options);
    trim.stop();
    expect(clock.pending).toBeUndefined();
    trim.stop();
  });
});

describe('processHeap', () => {
  it('reads and collects this process’s old generation (gc not exposed on the command line)', () => {
    const heap: HeapAccess | undefined = processHeap();
    expect(heap).toBeDefined();
    if (heap === undefined) return;
    heap.collect();
    const floor = heap.oldGenerationUsedBytes();
    expect(floor).toBeGreaterThan(0);
    // An array this large lives in a large-object space; a full collection while it is held moves it to the old generation's.
    let garbage: unknown[] | undefined = Array.from({ length: 1_000_000 }, () => 0);
    heap.collect();
    expect(heap.oldGenerationUsedBytes()).toBeGreaterThan(floor + 4_000_000);
    expect(garbage.length).toBe(1_000_000);
    garbage = undefined;
    heap.collect();
    expect(heap.oldGenerationUsedBytes()).toBeLessThan(floor + 1_000_000);
  });
});
