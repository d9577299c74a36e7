import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Timers } from './timers.js';

/**
 * What the heap trim reads and does: the bytes in use in V8's old generation,
 * and a full garbage collection.
 */
export interface HeapAccess {
  oldGenerationUsedBytes(): number;
  collect(): void;
}

export interface HeapTrimOptions {
  /** How often the old generation is looked at. */
  everyMs: number;
  /** Garbage the old generation may gather beyond what the last full collection left, before one is run. */
  slackBytes: number;
}

/**
 * Why the agent triggers a full collection itself (docs/DESIGN.md, "The
 * agent's memory"): with --lite-mode (which implies --optimize-for-size) V8
 * lets the old generation grow by at least 2 MB past what the last full
 * collection left before it runs the next one. Every reconnect leaves a few
 * kB there (sockets, the request and listeners of a connection that were
 * alive at two scavenges), so through a network that drops the connection
 * every few seconds the agent's RSS saws up and down by ~2.5 MB. Looking at
 * the old generation every `everyMs` and collecting once it holds
 * `slackBytes` more than after the last full collection caps that garbage at
 * `slackBytes` plus what one interval adds. A collection costs a few ms on
 * the agent's ~6 MB heap; while nothing reconnects the old generation grows
 * by heartbeats alone (~0.1 MB a minute). Legitimate growth raises the baseline (it is
 * what the collection left), so it never makes collections run back to back.
 */
export const HEAP_TRIM_DEFAULTS: HeapTrimOptions = { everyMs: 5_000, slackBytes: 512 * 1024 };

export interface HeapTrim {
  /** Full collections this trim ran. */
  readonly collections: number;
  stop(): void;
}

export function startHeapTrim(heap: HeapAccess, timers: Timers, options: HeapTrimOptions = HEAP_TRIM_DEFAULTS): HeapTrim {
  let baseline = heap.oldGenerationUsedBytes();
  let collections = 0;
  let timer: unknown;
  let stopped = false;

  const check = (): void => {
    timer = undefined;
    if (stopped) return;
    const used = heap.oldGenerationUsedBytes();
    if (used < baseline) {
      // V8 collected on its own: that is the new floor.
      baseline = used;
    } else if (used - baseline > options.slackBytes) {
      heap.collect();
      collections += 1;
      baseline = heap.oldGenerationUsedBytes();
    }
    timer = timers.setTimeout(check, options.everyMs);
  };
  timer = timers.setTimeout(check, options.everyMs);

  return {
    get collections() {
      return collections;
    },
    stop() {
      stopped = true;
      if (timer !== undefined) timers.clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** V8's old generation: the spaces a scavenge promotes into or a large object lands in. */
const OLD_GENERATION_SPACES = new Set(['old_space', 'code_space', 'map_space', 'large_object_space', 'code_large_object_space']);

/**
 * This process's heap. A full collection needs V8's `gc` function, which
 * only --expose-gc makes: when node ran without it (the single executable
 * sets its V8 flags at run time, after the main context exists), the flag is
 * set now and the function taken from a fresh context, which V8 gives it to.
 * Undefined when neither works (the trim is then not started).
 */
export function processHeap(): HeapAccess | undefined {
  let gc = (globalThis as { gc?: unknown }).gc;
  if (typeof gc !== 'function') {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as unknown;
    } catch {
      gc = undefined;
    }
  }
  if (typeof gc !== 'function') return undefined;
  const collect = gc as () => void;
  return {
    oldGenerationUsedBytes() {
      let used = 0;
      for (const space of getHeapSpaceStatistics()) if (OLD_GENERATION_SPACES.has(space.space_name)) used += space.space_used_size;
      return used;
    },
    collect() {
      collect();
    },
  };
}
