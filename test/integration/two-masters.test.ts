import { afterEach, beforeEach, expect, test } from 'vitest';
import { openHarness, waitFor, type Harness } from './helpers/harness.js';
import { RawAgent } from './helpers/raw-agent.js';

/**
 * Two masters on one database, 200 ms beats. A worker whose
 * cable to one master was cut came back on the other before the first one
 * timed it out: the first master's flag must leave it alone, since the other
 * master has written newer heartbeats for it. Watched in the database every 10 ms.
 */
let h: Harness;
beforeEach(async () => {
  h = await openHarness();
});
afterEach(async () => {
  await h.close();
});

async function isActive(workerId: string): Promise<boolean | undefined> {
  return (await h.worker(workerId))?.is_active;
}

/** Polls is_active until `until` resolves; returns every value seen. */
async function watchActive(workerId: string, until: Promise<unknown>): Promise<(boolean | undefined)[]> {
  const seen: (boolean | undefined)[] = [];
  let done = false;
  const stop = (): void => {
    done = true;
  };
  // Stops on failure too; the caller awaits `until` itself and sees its error.
  until.then(stop, stop);
  while (!done) {
    seen.push(await isActive(workerId));
    await new Promise((r) => setTimeout(r, 10));
  }
  return seen;
}

test("a worker that moved to another master is not flagged by the first one's timeout", async () => {
  const token = await h.register('mv');
  // A 2.5 s timeout on the first master: by its flag, the second master has written a
  // heartbeat at least two whole seconds newer (one in the same second is not told apart).
  const first = await h.startMaster({ heartbeatTimeoutMs: 2_500 });
  const second = await h.startMaster();
  const onFirst = await RawAgent.admitted(first.url, { workerId: 'mv', token, autoPong: false });
  onFirst.startBeating(200);
  await waitFor('active through the first master', async () => (await isActive('mv')) === true);

  // The cable to the first master is cut: it hears nothing more, not even a close.
  onFirst.freeze();
  const onSecond = await RawAgent.admitted(second.url, { workerId: 'mv', token });
  onSecond.startBeating(200);
  const flagsSent = first.commands.mark();
  // The first master times the worker out, terminates its socket and writes its flag; watch until a second after that.
  const timedOut = (async () => {
    await onFirst.closed;
    await waitFor('the first master sent its flag', () => first.commands.count(flagsSent, 'update', 'inactive') >= 1, { timeoutMs: 3_000 });
    await new Promise((r) => setTimeout(r, 1_000));
  })();
  const seen = await watchActive('mv', timedOut);
  await timedOut;

  expect(first.logs).toContainEqual(expect.objectContaining({ msg: 'workers flagged inactive', cause: 'timeout', worker_ids: ['mv'] }));
  expect(seen.length).toBeGreaterThan(50);
  expect(seen.filter((active) => active !== true)).toEqual([]);

  // The other way round nothing changed: once the second master stops hearing from it, it is flagged.
  onSecond.freeze();
  await waitFor('flagged by the master that served it', async () => (await isActive('mv')) === false, { timeoutMs: 3_000, intervalMs: 10 });
});
