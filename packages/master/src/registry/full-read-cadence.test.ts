import { describe, expect, test } from 'vitest';
import { FullReadSchedule, fullReadStep } from './full-read-cadence.js';

const cadence = { fullReadMs: 60_000, quietFullReadMs: 600_000 };

describe('fullReadStep', () => {
  test('within the normal period: wait, whatever the horizon said', () => {
    expect(fullReadStep(cadence, { nowMs: 59_999, lastReadMs: 0, lastAskedMs: -Infinity, servingSeenMs: 59_000 })).toBe('wait');
  });

  test('past it, with a master seen serving within two periods: read', () => {
    expect(fullReadStep(cadence, { nowMs: 60_000, lastReadMs: 0, lastAskedMs: 0, servingSeenMs: 0 })).toBe('read');
    expect(fullReadStep(cadence, { nowMs: 180_000, lastReadMs: 120_000, lastAskedMs: 120_000, servingSeenMs: 60_000 })).toBe('read');
  });

  test('past it, none seen lately: ask the horizon once a period, else wait', () => {
    expect(fullReadStep(cadence, { nowMs: 200_000, lastReadMs: 120_000, lastAskedMs: 120_000, servingSeenMs: 0 })).toBe('ask');
    expect(fullReadStep(cadence, { nowMs: 200_000, lastReadMs: 120_000, lastAskedMs: 190_000, servingSeenMs: 0 })).toBe('wait');
  });

  test('the quiet period passed: read, whatever the horizon said', () => {
    expect(fullReadStep(cadence, { nowMs: 720_000, lastReadMs: 120_000, lastAskedMs: 719_000, servingSeenMs: 0 })).toBe('read');
  });
});

describe('FullReadSchedule', () => {
  function setup(serving: number | Error): { schedule: FullReadSchedule; clock: { t: number }; asked: number[] } {
    const clock = { t: 0 };
    const asked: number[] = [];
    const schedule = new FullReadSchedule(
      cadence,
      (since) => {
        asked.push(since);
        return serving instanceof Error ? Promise.reject(serving) : Promise.resolve(serving);
      },
      { monotonic: () => clock.t, now: () => 1_000_000 + clock.t },
    );
    return { schedule, clock, asked };
  }

  test('nobody serving: after the first two periods, one read per quiet period and one horizon read per normal period', async () => {
    const { schedule, clock, asked } = setup(0);
    let reads = 0;
    for (clock.t = 0; clock.t <= 1_800_000; clock.t += 1_000) {
      if (await schedule.due()) {
        reads += 1;
        schedule.readAt(clock.t);
      }
    }
    // t=0, then every 600 s (the horizon asked every 60 s in between).
    expect(reads).toBe(4);
    expect(asked.length).toBeLessThanOrEqual(1_800_000 / 60_000);
    // Masters heard from within the last normal period count as serving.
    expect(asked[0]).toBe(1_000_000 + 60_000 - 120_000);
  });

  test('a master serving: a read every normal period; a horizon that cannot be read counts as one', async () => {
    for (const serving of [1, new Error('down')]) {
      const { schedule, clock } = setup(serving);
      let reads = 0;
      for (clock.t = 0; clock.t <= 600_000; clock.t += 1_000) {
        if (await schedule.due()) {
          reads += 1;
          schedule.readAt(clock.t);
        }
      }
      expect(reads).toBe(11);
    }
  });
});
