import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../../test/support/database.js';
import { StaleSweeper } from '../server/liveness/stale-sweep.js';
import { captureLogger, ManualClock, testHealth, testMetrics } from '../server/test-support/fakes.js';
import { createWorkerRegistry, type WorkerRegistry } from './worker-registry.js';
import { createWriteHorizon, type WriteHorizon } from './write-horizon.js';

const TIMEOUT_MS = 1_000;

let t: TestDatabase;
let registry: WorkerRegistry;
let horizon: WriteHorizon;
let clock: ManualClock;

beforeEach(async () => {
  t = await openTestDatabase('write_horizon');
  clock = new ManualClock();
  registry = createWorkerRegistry(t.db, { now: () => new Date(clock.now()) });
  await registry.ensureCollections();
  horizon = createWriteHorizon(t.db);
});

afterEach(async () => {
  await t.close();
});

/**
 * Two other masters alive at once, one behind (its last heartbeat write stood
 * for 4 s ago) and one current; this master's own entry and a master gone
 * quiet longer than the timeout are not counted.
 */
async function publishTwoLiveOthers(): Promise<{ behindMs: number }> {
  const nowMs = clock.now();
  const behindMs = nowMs - 4_000;
  await horizon.publish('behind', behindMs, nowMs);
  await horizon.publish('current', nowMs, nowMs);
  await horizon.publish('me', nowMs - 60_000, nowMs);
  await horizon.publish('gone', nowMs - 3_600_000, nowMs - TIMEOUT_MS - 1);
  return { behindMs };
}

describe('write horizon (real database)', () => {
  it('with two other live masters, the oldest written_as_of is the one behind, whichever was published last', async () => {
    const { behindMs } = await publishTwoLiveOthers();
    expect(await horizon.othersLive(clock.now() - TIMEOUT_MS, 'me')).toEqual({ count: 2, oldestWrittenAsOfMs: behindMs });
    // Published in the other order: the same answer.
    await horizon.publish('behind', behindMs, clock.now());
    expect(await horizon.othersLive(clock.now() - TIMEOUT_MS, 'me')).toEqual({ count: 2, oldestWrittenAsOfMs: behindMs });
  });

  it('the sweep judges by the master that is behind, not the current one: the worker it serves stays active', async () => {
    await publishTwoLiveOthers();
    // 'protected' is served by the master that is behind: its last write, 4 s ago, wrote 3 s.
    // 'orphan' was last written 10 s ago, older than any live master's write.
    const nowSeconds = Math.floor(clock.now() / 1000);
    for (const [workerId, ageSeconds] of [['protected', 3], ['orphan', 10]] as const) {
      await registry.registerWorker(workerId, '10.0.0.1');
      await registry.updateWorkerInfo({ worker_id: workerId, total_cpu: 8, total_memory: 16, total_storage: 500, total_gpu: 0, is_active: true, last_heartbeat: nowSeconds - ageSeconds });
    }
    const sweeper = new StaleSweeper({
      registry,
      clock,
      health: testHealth(clock).health,
      metrics: testMetrics(),
      logger: captureLogger().logger,
      heartbeatTimeoutMs: TIMEOUT_MS,
      intervalMs: 500,
      horizon: { port: horizon, instanceId: 'me', serving: () => false, publishEveryMs: 250, aloneEveryMs: 1_000 },
    });
    sweeper.startNow();
    await sweeper.sweepAtStart();
    expect((await registry.getWorker('protected'))?.is_active).toBe(true);
    expect((await registry.getWorker('orphan'))?.is_active).toBe(false);
  });

  it('activity: other masters that published, and any withdrawal, since a time; the withdrawals note is no master', async () => {
    const nowMs = clock.now();
    await horizon.publish('me', nowMs, nowMs);
    expect(await horizon.activitySince(nowMs - 60_000, 'me')).toBe(0);
    await horizon.publish('other', nowMs, nowMs);
    expect(await horizon.activitySince(nowMs - 60_000, 'me')).toBe(1);
    // It serves nobody now: its entry goes, the withdrawal is noted.
    await horizon.withdraw('other', nowMs - 86_400_000, nowMs + 1_000);
    expect(await horizon.activitySince(nowMs - 60_000, 'me')).toBe(1);
    expect(await horizon.activitySince(nowMs + 2_000, 'me')).toBe(0);
    // The sweep's count of live masters and the clean-up pass the note by.
    expect(await horizon.othersLive(nowMs - 60_000, 'me')).toEqual({ count: 0, oldestWrittenAsOfMs: undefined });
    await horizon.withdraw('me', nowMs + 86_400_000, nowMs + 3_000);
    expect(await horizon.activitySince(nowMs + 2_000, 'nobody')).toBe(1);
  });
});
