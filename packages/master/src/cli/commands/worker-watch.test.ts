import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { Worker } from '../../registry/worker.js';
import { watchWorkers } from './worker-watch.js';

const worker = (id: string, active: boolean): Worker => ({
  worker_id: id, worker_ip: '10.0.0.1', total_cpu: 0, total_memory: 0, total_storage: 0, total_gpu: 0,
  is_active: active, last_heartbeat: 0, registered_at: new Date(0), updated_at: new Date(0),
});

/** What the watch reads and when: the registry behind a narrow port, on fake timers (the spawned CLI is tested in test/cli). */
function setup(options: { serving?: { count: number }; tty?: boolean } = {}): { db: Worker[]; version: { value: string }; finds: () => number; out: string[]; stop: () => Promise<void> } {
  const db = [worker('a', false)];
  const version = { value: 'v1' };
  let finds = 0;
  const out: string[] = [];
  let shutdown: (signal: string) => void = () => undefined;
  const done = watchWorkers({
    find: () => {
      finds += 1;
      return Promise.resolve(db.map((w) => ({ ...w })));
    },
    version: () => Promise.resolve(version.value),
    filterAt: () => ({}),
    now: () => new Date(Date.now()),
    monotonic: () => Date.now(),
    stdout: (text) => out.push(text),
    stderr: () => undefined,
    errorLine: String,
    tty: options.tty ?? false,
    servingMasters: options.serving === undefined ? undefined : () => Promise.resolve(options.serving?.count ?? 0),
    quietFullReadMs: 300_000,
    signals: { onShutdown: (listener) => ((shutdown = listener), () => undefined) },
    intervalMs: 1_000,
    fullReadMs: 30_000,
  });
  return {
    db, version, out, finds: () => finds,
    stop: async () => {
      shutdown('SIGINT');
      await done;
    },
  };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('watchWorkers', () => {
  test('nothing changed: the registry is read once per fullReadMs, not once an interval', async () => {
    const w = setup();
    await vi.advanceTimersByTimeAsync(29_500);
    expect(w.finds()).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(w.finds()).toBe(2);
    expect(w.out).toHaveLength(1);
    await w.stop();
  });

  test('a new admission version (an admin write) is read at the next interval; a write outside the tools within fullReadMs', async () => {
    const w = setup();
    await vi.advanceTimersByTimeAsync(5_000);
    w.db.push(worker('b', false));
    w.version.value = 'v2';
    await vi.advanceTimersByTimeAsync(1_000);
    expect(w.finds()).toBe(2);
    expect(w.out.at(-1)).toContain('"event":"added","worker_id":"b"');

    // A flag written by a master (no new version): seen at the next full read.
    w.db[0] = worker('a', true);
    await vi.advanceTimersByTimeAsync(25_000);
    expect(w.out).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(w.out.at(-1)).toContain('"event":"modified","worker_id":"a"');
    await w.stop();
  });

  test('no master serves: the registry is read once per quiet period; one that serves brings the period back', async () => {
    const serving = { count: 0 };
    const w = setup({ serving });
    await vi.advanceTimersByTimeAsync(299_500);
    expect(w.finds()).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(w.finds()).toBe(2);
    serving.count = 1;
    w.db[0] = worker('a', true);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(w.finds()).toBe(3);
    expect(w.out.at(-1)).toContain('"event":"modified","worker_id":"a"');
    await w.stop();
  });

  test('on a terminal: ages count from the time of each redraw, and the header says how old the rows are', async () => {
    const w = setup({ tty: true });
    w.db[0] = { ...worker('a', true), last_heartbeat: Math.floor(Date.now() / 1000) };
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(12_000);
    const frame = w.out.at(-1) ?? '';
    expect(frame).toMatch(/registry read 12s ago/);
    expect(frame).toMatch(/\b12s ago\b/);
    await w.stop();
  });
});
