import { describe, expect, test } from 'vitest';
import { Startup } from './startup.js';
import { FakeRegistry, ManualClock, captureLogger, testHealth } from './test-support/fakes.js';

function setup(failConnects: number) {
  const clock = new ManualClock();
  const registry = new FakeRegistry();
  const { health, lines: healthLines } = testHealth(clock);
  const { logger, lines } = captureLogger();
  const connects: number[] = [];
  let loads = 0;
  const startup = new Startup({
    connect: () => {
      connects.push(clock.monoMs);
      return connects.length <= failConnects ? Promise.reject(new Error('connection refused')) : Promise.resolve();
    },
    registry,
    sweepAtStart: () => Promise.resolve(),
    loadView: () => Promise.resolve(++loads > 0),
    health,
    logger,
    clock,
    retryBaseMs: 100,
    retryCapMs: 400,
  });
  return { clock, registry, connects, startup, lines, healthLines };
}

describe('Startup', () => {
  test('retries with backoff on the clock, each step once it worked, and reports the outage once', async () => {
    const { clock, connects, startup, lines, registry, healthLines } = setup(3);
    const started = clock.monoMs;
    const run = startup.run();
    await clock.advanceAsync(99);
    expect(connects.map((at) => at - started)).toEqual([0]);
    await clock.advanceAsync(1);
    expect(connects.map((at) => at - started)).toEqual([0, 100]);
    await clock.advanceAsync(200 + 400);
    expect(connects.map((at) => at - started)).toEqual([0, 100, 300, 700]);
    expect(await run).toBe(true);
    expect(registry.count('ensureCollections')).toBe(1);
    expect(lines.filter((l) => l.msg === 'registry not loaded; admissions refused (503) until it is')).toHaveLength(1);
    // The outage is logged once (error), however many tries it took.
    expect(healthLines.filter((l) => l.level === 50)).toHaveLength(1);
  });

  test('stop() ends the wait between tries at once', async () => {
    const { clock, connects, startup } = setup(Number.POSITIVE_INFINITY);
    const run = startup.run();
    await clock.advanceAsync(0);
    startup.stop();
    expect(await run).toBe(false);
    expect(connects).toHaveLength(1);
    expect(clock.pendingTimers).toBe(0);
  });
});
