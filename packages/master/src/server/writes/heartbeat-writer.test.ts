import { describe, expect, test, vi } from 'vitest';
import { HeartbeatWriter, type HeartbeatWriterOptions } from './heartbeat-writer.js';
import { FakeRegistry, ManualClock, captureLogger, testHealth, testMetrics } from '../test-support/fakes.js';

function setup(overrides: Partial<HeartbeatWriterOptions> = {}) {
  const registry = new FakeRegistry();
  for (const id of ['w1', 'w2', 'w3']) registry.add(id);
  const clock = new ManualClock();
  const { health, lines } = testHealth(clock);
  const unregistered: string[][] = [];
  const afterFlush = vi.fn(() => Promise.resolve());
  const writer = new HeartbeatWriter({
    registry,
    clock,
    health,
    metrics: testMetrics(),
    logger: captureLogger().logger,
    flushIntervalMs: 1_000,
    retryBaseMs: 100,
    retryCapMs: 400,
    finalFlushTimeoutMs: 200,
    maxSpecsPerFlush: 2,
    onUnregistered: (ids) => unregistered.push(ids),
    afterFlush,
    ...overrides,
  });
  return { registry, clock, health, lines, writer, unregistered, afterFlush };
}

describe('HeartbeatWriter', () => {
  test('many beats from many workers become one recordHeartbeats with $in and the master clock', async () => {
    const { registry, writer, clock } = setup();
    for (let i = 0; i < 10; i++) for (const id of ['w1', 'w2', 'w3']) writer.heartbeat(id);
    expect(await writer.flushNow()).toBe(true);
    expect(registry.calls.filter((c) => c.op !== 'existingWorkerIds')).toEqual([
      { op: 'recordHeartbeats', ids: ['w1', 'w2', 'w3'], unixSeconds: Math.floor(clock.wallMs / 1000) },
    ]);
    expect(await writer.flushNow()).toBe(true);
    expect(registry.count('recordHeartbeats')).toBe(1);
  });

  test('an admitted worker stays among the unwritten admissions until a heartbeat write of its own lands (what the sweep spares)', async () => {
    const { registry, writer } = setup();
    writer.admit('w1');
    expect([...writer.unwrittenAdmissions]).toEqual(['w1']);
    registry.hold();
    const flushing = writer.flushNow();
    await vi.waitFor(() => expect(registry.count('recordHeartbeats')).toBe(1));
    // Admitted while the write of w1 is in flight: w2's return is in no write yet.
    writer.admit('w2');
    registry.release();
    expect(await flushing).toBe(true);
    expect([...writer.unwrittenAdmissions]).toEqual(['w2']);
    registry.failing = true;
    expect(await writer.flushNow()).toBe(false);
    expect([...writer.unwrittenAdmissions]).toEqual(['w2']);
    registry.failing = false;
    expect(await writer.flushNow()).toBe(true);
    expect([...writer.unwrittenAdmissions]).toEqual([]);
    // A goodbye takes it off too: an inactive worker needs no sparing.
    writer.admit('w3');
    writer.markInactive(['w3']);
    expect([...writer.unwrittenAdmissions]).toEqual([]);
  });

  test('sets of specs beyond maxSpecsPerFlush wait for the next cycle', async () => {
    const { registry, writer } = setup();
    for (const [i, id] of ['w1', 'w2', 'w3'].entries()) writer.queueSpecs(id, { total_cpu: i + 1, total_memory: 1, total_storage: 1, total_gpu: 0 });
    await writer.flushNow();
    await writer.flushNow();
    expect(registry.calls.map((c) => (c.op === 'updateSpecs' ? c.entries.map((e) => e.worker_id) : c.op))).toEqual([
      ['w1', 'w2'],
      ['w3'],
    ]);
  });

  test('workers with the same specs go in one flush, however many (a fleet of like machines connecting)', async () => {
    const { registry, writer } = setup();
    const same = { total_cpu: 8, total_memory: 16, total_storage: 100, total_gpu: 0 };
    const other = { ...same, total_gpu: 1 };
    for (let i = 0; i < 500; i++) writer.queueSpecs(`a${i}`, same);
    writer.queueSpecs('b', other);
    writer.queueSpecs('c', { ...same, total_cpu: 64 });
    for (let i = 0; i < 500; i++) writer.queueSpecs(`z${i}`, same);
    await writer.flushNow();
    const [first] = registry.calls.filter((c) => c.op === 'updateSpecs');
    // maxSpecsPerFlush 2: the two first sets (1,000 like workers and b) now; c waits.
    expect(first?.op === 'updateSpecs' ? first.entries.length : 0).toBe(1_001);
    await writer.flushNow();
    expect(registry.calls.filter((c) => c.op === 'updateSpecs').map((c) => (c.op === 'updateSpecs' ? c.entries.map((e) => e.worker_id) : []))[1]).toEqual(['c']);
  });

  test('a goodbye drops the pending heartbeat and is written first in its cycle, not behind the heartbeats', async () => {
    const { registry, writer } = setup();
    writer.heartbeat('w1');
    writer.heartbeat('w2');
    writer.markInactive(['w1']);
    await writer.flushNow();
    expect(registry.calls.map((c) => c.op)).toEqual(['markInactive', 'recordHeartbeats']);
    expect(registry.calls[0]).toMatchObject({ ids: ['w1'] });
    expect(registry.calls[1]).toMatchObject({ ids: ['w2'] });
    expect(registry.docs.get('w1')?.is_active).toBe(false);
  });

  test('a pending goodbye brings the next cycle forward to inactivePromptMs', async () => {
    const { registry, writer, clock } = setup({ inactivePromptMs: 250 });
    writer.start();
    writer.markInactive(['w1']);
    await clock.advanceAsync(249);
    expect(registry.count('markInactive')).toBe(0);
    await clock.advanceAsync(1);
    expect(registry.count('markInactive')).toBe(1);
    // Heartbeats alone keep the 1 s cadence.
    writer.heartbeat('w2');
    await clock.advanceAsync(500);
    expect(registry.count('recordHeartbeats')).toBe(0);
    await clock.advanceAsync(500);
    expect(registry.count('recordHeartbeats')).toBe(1);
    await writer.stop();
  });

  test('flushAtPendingHeartbeats pending beats start the write early, no sooner than earlyFlushMinGapMs after the last started', async () => {
    const { registry, writer, clock } = setup({ flushAtPendingHeartbeats: 3, earlyFlushMinGapMs: 300 });
    for (const id of ['w4', 'w5', 'w6']) registry.add(id);
    writer.start();
    writer.heartbeat('w1');
    writer.heartbeat('w2');
    writer.heartbeat('w1'); // the same worker again is not one more pending write
    await clock.advanceAsync(0);
    expect(registry.count('recordHeartbeats')).toBe(0);
    registry.hold();
    writer.heartbeat('w3');
    await clock.advanceAsync(0);
    expect(registry.count('recordHeartbeats')).toBe(1);
    // Beats that fill the pending set while that write is in flight go once it has ended
    // and the least gap since it started has passed.
    for (const id of ['w4', 'w5', 'w6']) writer.heartbeat(id);
    await clock.advanceAsync(100);
    registry.release();
    await clock.advanceAsync(199);
    expect(registry.count('recordHeartbeats')).toBe(1);
    await clock.advanceAsync(1);
    expect(registry.count('recordHeartbeats')).toBe(2);
    expect(registry.calls.filter((c) => c.op === 'recordHeartbeats').map((c) => c.ids)).toEqual([
      ['w1', 'w2', 'w3'],
      ['w4', 'w5', 'w6'],
    ]);
    // Fewer than that wait for the interval, as before.
    writer.heartbeat('w1');
    await clock.advanceAsync(999);
    expect(registry.count('recordHeartbeats')).toBe(2);
    await clock.advanceAsync(1);
    expect(registry.count('recordHeartbeats')).toBe(3);
    await writer.stop();
  });

  test('the sweep after a cycle is told the time written as last_heartbeat, not the time the writes ended', async () => {
    const { registry, writer, clock, afterFlush } = setup();
    writer.heartbeat('w1');
    const writtenAt = clock.wallMs;
    registry.hold();
    const cycle = writer.flushNow();
    await vi.waitFor(() => expect(registry.count('recordHeartbeats')).toBe(1));
    clock.advance(20_000); // a database slower than the timeout
    registry.release();
    expect(await cycle).toBe(true);
    expect(afterFlush).toHaveBeenCalledWith(writtenAt);
  });

  test('a heartbeat in flight when the agent says goodbye cannot revive the worker', async () => {
    const { registry, writer } = setup();
    writer.admit('w1');
    registry.hold();
    const first = writer.flushNow();
    await vi.waitFor(() => expect(registry.count('recordHeartbeats')).toBe(1));
    writer.markInactive(['w1']);
    writer.heartbeat('w1'); // a late beat from the closing socket is ignored
    registry.release();
    await first;
    await writer.flushNow();
    expect(registry.calls.map((c) => c.op)).toEqual(['recordHeartbeats', 'markInactive']);
    expect(registry.docs.get('w1')?.is_active).toBe(false);
  });

  test('a failed heartbeat is not put back for a worker that said goodbye meanwhile', async () => {
    const { registry, writer, clock } = setup();
    writer.heartbeat('w1');
    writer.heartbeat('w2');
    registry.failing = true;
    registry.hold();
    const failed = writer.flushNow();
    await vi.waitFor(() => expect(registry.count('recordHeartbeats')).toBe(1));
    writer.markInactive(['w1']);
    registry.release();
    expect(await failed).toBe(false);
    registry.failing = false;
    expect(await writer.flushNow()).toBe(true);
    expect(registry.calls.slice(1)).toEqual([
      // The failed write may have landed: the flag covers the second it tried to write.
      { op: 'markInactive', ids: ['w1'], lastWritten: { w1: Math.floor(clock.wallMs / 1000) } },
      { op: 'recordHeartbeats', ids: ['w2'], unixSeconds: expect.any(Number) as number },
    ]);
  });

  test("a flag leaves a worker whose registry heartbeat is newer than this master's last (another master serves it now)", async () => {
    const { registry, writer, clock } = setup();
    writer.heartbeat('w1');
    expect(await writer.flushNow()).toBe(true);
    const ours = Math.floor(clock.wallMs / 1000);
    // w1 came back on another master, which wrote a newer heartbeat; w2 is active, but not through this master.
    clock.advance(10_000);
    const theirs = Math.floor(clock.wallMs / 1000);
    Object.assign(registry.docs.get('w1') ?? {}, { is_active: true, last_heartbeat: theirs });
    Object.assign(registry.docs.get('w2') ?? {}, { is_active: true, last_heartbeat: theirs });
    writer.markInactive(['w1', 'w2']); // this master's timeouts
    expect(await writer.flushNow()).toBe(true);
    expect(registry.calls.at(-1)).toEqual({ op: 'markInactive', ids: ['w1', 'w2'], lastWritten: { w1: ours } });
    expect(registry.docs.get('w1')).toMatchObject({ is_active: true, last_heartbeat: theirs });
    expect(registry.docs.get('w2')?.is_active).toBe(false);
    // Its own later beat makes it this master's again: a flag then applies.
    writer.heartbeat('w1');
    expect(await writer.flushNow()).toBe(true);
    writer.markInactive(['w1']);
    expect(await writer.flushNow()).toBe(true);
    expect(registry.docs.get('w1')?.is_active).toBe(false);
  });

  test('an unregistered worker is forgotten: a later flag for the same id is unconditional', async () => {
    const { registry, writer } = setup();
    writer.heartbeat('w1');
    await writer.flushNow();
    writer.forget('w1');
    writer.markInactive(['w1']);
    await writer.flushNow();
    expect(registry.calls.at(-1)).toEqual({ op: 'markInactive', ids: ['w1'], lastWritten: {} });
  });

  test('a new admission cancels a pending inactive flag, also one whose write failed', async () => {
    const { registry, writer } = setup();
    writer.markInactive(['w1']);
    writer.admit('w1');
    await writer.flushNow();
    expect(registry.calls.map((c) => c.op)).toEqual(['recordHeartbeats']);

    writer.markInactive(['w2']);
    registry.failing = true;
    registry.hold();
    const failed = writer.flushNow();
    await vi.waitFor(() => expect(registry.count('markInactive')).toBe(1));
    writer.admit('w2');
    registry.release();
    await failed;
    registry.failing = false;
    await writer.flushNow();
    expect(registry.calls.slice(-1)).toEqual([{ op: 'recordHeartbeats', ids: ['w2'], unixSeconds: expect.any(Number) as number }]);
  });

  test('specs are batched into one updateSpecs, the latest per worker', async () => {
    const { registry, writer } = setup();
    writer.queueSpecs('w1', { total_cpu: 1, total_memory: 1, total_storage: 1, total_gpu: 0 });
    writer.queueSpecs('w1', { total_cpu: 2, total_memory: 1, total_storage: 1, total_gpu: 0 });
    writer.queueSpecs('w2', { total_cpu: 4, total_memory: 1, total_storage: 1, total_gpu: 0 });
    await writer.flushNow();
    expect(registry.calls).toEqual([
      {
        op: 'updateSpecs',
        entries: [
          { worker_id: 'w1', total_cpu: 2, total_memory: 1, total_storage: 1, total_gpu: 0 },
          { worker_id: 'w2', total_cpu: 4, total_memory: 1, total_storage: 1, total_gpu: 0 },
        ],
      },
    ]);
  });

  test('fewer matches than ids: the missing workers are reported as unregistered', async () => {
    const { registry, writer, unregistered } = setup();
    writer.heartbeat('w1');
    writer.heartbeat('w2');
    registry.remove('w2');
    await writer.flushNow();
    expect(registry.calls.map((c) => c.op)).toEqual(['recordHeartbeats', 'existingWorkerIds']);
    expect(unregistered).toEqual([['w2']]);
  });

  test('the sweep hook runs only after a cycle whose writes succeeded', async () => {
    const { registry, writer, afterFlush } = setup();
    writer.heartbeat('w1');
    registry.failing = true;
    expect(await writer.flushNow()).toBe(false);
    expect(afterFlush).not.toHaveBeenCalled();
    registry.failing = false;
    expect(await writer.flushNow()).toBe(true);
    expect(afterFlush).toHaveBeenCalledTimes(1);
  });

  test('failures are retried with backoff, logged once per outage and once on recovery', async () => {
    const { registry, writer, lines, health, clock } = setup();
    writer.start();
    writer.heartbeat('w1');
    registry.failing = true;
    await clock.advanceAsync(1_000); // first flush fails
    expect(registry.count('recordHeartbeats')).toBe(1);
    await clock.advanceAsync(99);
    expect(registry.count('recordHeartbeats')).toBe(1);
    await clock.advanceAsync(1); // retry after 100 ms
    expect(registry.count('recordHeartbeats')).toBe(2);
    await clock.advanceAsync(200); // then 200 ms
    expect(registry.count('recordHeartbeats')).toBe(3);
    await clock.advanceAsync(400); // then 400 ms (cap)
    await clock.advanceAsync(400);
    expect(registry.count('recordHeartbeats')).toBe(5);
    expect(health.ok).toBe(false);
    expect(lines.filter((l) => l.level === 50)).toHaveLength(1);
    expect(lines.find((l) => l.level === 50)).toMatchObject({ op: 'heartbeat', retry_in_ms: 100 });
    registry.failing = false;
    await clock.advanceAsync(400);
    expect(health.ok).toBe(true);
    expect(registry.docs.get('w1')?.is_active).toBe(true);
    expect(lines.filter((l) => l.msg === 'database reachable again')).toHaveLength(1);
    // Back to the normal cadence.
    writer.heartbeat('w1');
    await clock.advanceAsync(999);
    expect(registry.count('recordHeartbeats')).toBe(6);
    await clock.advanceAsync(1);
    expect(registry.count('recordHeartbeats')).toBe(7);
    await writer.stop();
  });

  test('stop() writes what is pending, once, and gives up after finalFlushTimeoutMs', async () => {
    const { registry, writer } = setup();
    writer.start();
    writer.heartbeat('w1');
    writer.markInactive(['w2']);
    const stopped = writer.stop();
    expect(writer.stop()).toBe(stopped);
    await stopped;
    expect(registry.calls.map((c) => c.op)).toEqual(['markInactive', 'recordHeartbeats']);

    const hung = setup();
    hung.writer.heartbeat('w1');
    hung.registry.hold();
    let given = false;
    const stopping = hung.writer.stop().then(() => (given = true));
    await hung.clock.advanceAsync(199);
    expect(given).toBe(false);
    await hung.clock.advanceAsync(1);
    await stopping;
    expect(given).toBe(true);
    hung.registry.release();
  });
});

describe('HeartbeatWriter: flags raised while a cycle runs', () => {
  // A long flush interval: these tests run the cycles themselves (flushNow); start() only enables express writes.
  const started = () => {
    const s = setup({ flushIntervalMs: 60_000 });
    s.writer.start();
    return s;
  };
  /** Beats from `beating`, then a cycle whose heartbeat write is held in flight; resolves with that cycle (wrapped, not awaited). */
  const heartbeatWriteInFlight = async ({ registry, writer }: ReturnType<typeof setup>, beating: string) => {
    writer.heartbeat(beating);
    registry.hold();
    const cycle = writer.flushNow();
    await vi.waitFor(() => expect(registry.count('recordHeartbeats')).toBe(1));
    return { cycle };
  };
  /** The flag and heartbeat writes so far, as `op id,id` (ids sorted). */
  const writes = (registry: FakeRegistry) =>
    registry.calls.flatMap((c) => (c.op === 'recordHeartbeats' || c.op === 'markInactive' ? [`${c.op} ${[...c.ids].sort().join(',')}`] : []));

  test('a goodbye during a heartbeat write it is not part of is written at once, not behind it', async () => {
    const s = started();
    const { registry, writer } = s;
    const { cycle } = await heartbeatWriteInFlight(s, 'w2');
    writer.markInactive(['w1']);
    // Sent while the heartbeat write is still in flight.
    expect(registry.calls.map((c) => c.op)).toEqual(['recordHeartbeats', 'markInactive']);
    registry.release();
    expect(await cycle).toBe(true);
    await vi.waitFor(() => expect(registry.docs.get('w1')?.is_active).toBe(false));
    expect(registry.docs.get('w2')?.is_active).toBe(true);
    await writer.stop();
  });

  test('an express flag carries the second this master last wrote for its worker', async () => {
    const s = started();
    const { registry, writer, clock } = s;
    writer.heartbeat('w1');
    expect(await writer.flushNow()).toBe(true);
    const ours = Math.floor(clock.wallMs / 1000);
    clock.advance(3_000);
    const { cycle } = await heartbeatWriteInFlight(s, 'w2');
    writer.markInactive(['w1']);
    expect(registry.calls.at(-1)).toEqual({ op: 'markInactive', ids: ['w1'], lastWritten: { w1: ours } });
    registry.release();
    expect(await cycle).toBe(true);
    await writer.stop();
  });

  test('a goodbye from a worker in the heartbeat write in flight waits for that write, then goes before the rest of the cycle', async () => {
    const { registry, writer } = started();
    writer.queueSpecs('w3', { total_cpu: 1, total_memory: 1, total_storage: 1, total_gpu: 0 });
    writer.admit('w1');
    registry.hold();
    const cycle = writer.flushNow();
    await vi.waitFor(() => expect(registry.count('recordHeartbeats')).toBe(1));
    writer.markInactive(['w1']);
    writer.heartbeat('w1'); // a late beat from the closing socket is ignored
    expect(registry.count('markInactive')).toBe(0);
    registry.release();
    expect(await cycle).toBe(true);
    expect(registry.calls.map((c) => c.op)).toEqual(['recordHeartbeats', 'markInactive', 'updateSpecs']);
    expect(registry.docs.get('w1')?.is_active).toBe(false);
    expect(writer.pending.heartbeats).toBe(0);
    await writer.stop();
  });

  test('the next cycle waits for the express write, and a late beat meanwhile does not revive the worker', async () => {
    const s = started();
    const { registry, writer } = s;
    const { cycle: first } = await heartbeatWriteInFlight(s, 'w2');
    writer.markInactive(['w1']); // express, held
    writer.heartbeat('w1'); // late beat while its flag is being written: ignored
    writer.heartbeat('w2');
    const second = writer.flushNow();
    registry.release();
    expect(await first).toBe(true);
    expect(await second).toBe(true);
    expect(writes(registry)).toEqual(['recordHeartbeats w2', 'markInactive w1', 'recordHeartbeats w2']);
    expect(registry.docs.get('w1')?.is_active).toBe(false);
    await writer.stop();
  });

  test('a worker admitted again while its express flag is in flight: the next cycle writes its heartbeat only after the flag', async () => {
    const s = started();
    const { registry, writer } = s;
    const { cycle: first } = await heartbeatWriteInFlight(s, 'w2');
    writer.markInactive(['w1']); // express, held
    writer.admit('w1');
    const second = writer.flushNow();
    registry.releaseOnly('recordHeartbeats');
    expect(await first).toBe(true);
    await s.clock.advanceAsync(0); // what the second cycle does before it must wait
    // The second cycle has not written w1's heartbeat past the flag still in flight.
    expect(registry.count('recordHeartbeats')).toBe(1);
    registry.release();
    expect(await second).toBe(true);
    expect(writes(registry)).toEqual(['recordHeartbeats w2', 'markInactive w1', 'recordHeartbeats w1']);
    expect(registry.docs.get('w1')?.is_active).toBe(true);
    await writer.stop();
  });

  test('a failed express write goes back to the next cycle, unless the worker was admitted again meanwhile', async () => {
    const s = started();
    const { registry, writer } = s;
    const { cycle: first } = await heartbeatWriteInFlight(s, 'w2');
    writer.markInactive(['w1', 'w3']); // express, held; it will fail
    writer.admit('w3');
    registry.failing = true;
    registry.release();
    expect(await first).toBe(false);
    await vi.waitFor(() => expect(registry.count('markInactive')).toBe(1));
    registry.failing = false;
    expect(await writer.flushNow()).toBe(true);
    expect(writes(registry).slice(2)).toEqual(['markInactive w1', 'recordHeartbeats w2,w3']);
    await writer.stop();
  });
});

describe('HeartbeatWriter.flagCounted (the hand-over flag)', () => {
  test('one markInactive of its own, after the pending beats are dropped; resolves how many it changed', async () => {
    const { registry, writer } = setup();
    const w1 = registry.docs.get('w1');
    if (w1 !== undefined) w1.is_active = true;
    writer.heartbeat('w1');
    writer.heartbeat('w2');
    expect(await writer.flagCounted(['w1', 'w2'])).toBe(1);
    expect(registry.calls.filter((c) => c.op === 'markInactive')).toEqual([{ op: 'markInactive', ids: ['w1', 'w2'], lastWritten: {} }]);
    expect(writer.pending).toEqual({ heartbeats: 0, inactive: 0, specs: 0, hardware: 0 });
  });

  test('a database that does not answer within finalFlushTimeoutMs: undefined, and the flags wait for the final flush', async () => {
    const { registry, writer, clock } = setup();
    registry.hold();
    const counted = writer.flagCounted(['w1', 'w2']);
    await Promise.resolve();
    await Promise.resolve();
    clock.advance(200);
    expect(await counted).toBeUndefined();
    expect(writer.pending.inactive).toBe(2);
    registry.release();
  });

  test('a failed write: undefined, and the flags wait for the final flush', async () => {
    const { registry, writer } = setup();
    registry.failing = true;
    expect(await writer.flagCounted(['w3'])).toBeUndefined();
    expect(writer.pending.inactive).toBe(1);
  });
});
