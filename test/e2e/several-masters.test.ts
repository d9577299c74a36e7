import { createServer } from 'node:net';
import { afterAll, beforeAll, describe } from 'vitest';
import { FAKE_SPECS, agentEvents, agentUrl, registerWorker, startAgent, startMaster } from './support/cluster.js';
import { DevDb } from './support/devdb.js';
import { liveChildren } from './support/processes.js';
import { Summary, secs } from './support/report.js';
import { defineScenario, type ScenarioContext } from './support/scenario.js';

/**
 * Several masters on one dev database, with the built cluster-master and
 * cluster-agent as separate processes: the agent's list of masters (rounds,
 * the backoff per round), and what happens to workers when a master stops or
 * dies. Same conventions and timings as faults.test.ts; the table goes to
 * .cache/e2e/several-masters.txt.
 */

const summary = new Summary('several-masters');
let db: DevDb | undefined;
const uri = (): string => {
  if (db === undefined) throw new Error('the dev database did not start');
  return db.uri;
};
const scenario = (label: string, timeoutMs: number, body: (ctx: ScenarioContext) => Promise<void>): void =>
  defineScenario(summary, uri, label, timeoutMs, body);

/** An observation window: time itself is what is being tested. */
const hold = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

beforeAll(async () => {
  db = await DevDb.start();
}, 180_000);

afterAll(async () => {
  const leaked = liveChildren();
  await Promise.all(leaked.map((p) => p.kill()));
  await db?.destroy();
  const table = await summary.write();
  console.log(`\n[e2e] several masters (also in .cache/e2e/several-masters.txt):\n${table}\n`);
  if (leaked.length > 0) throw new Error(`processes outlived their scenario: ${leaked.map((p) => p.name).join(', ')}`);
}, 60_000);

describe.sequential('several masters (real processes, dev database)', () => {
  scenario('M1 two of three masters down', 60_000, async (ctx) => {
    const id = 'list-1';
    const token = await registerWorker(ctx.target, id);
    const master = await startMaster(ctx.procs, ctx.target, 'master');
    const down = [await closedPort(), await closedPort()].map((port) => `ws://127.0.0.1:${port}/agent`);
    // The live master last in the list; the agent starts at a random entry, so it tries 0, 1 or 2 closed ports first.
    const urls = [...down, agentUrl(master)].join(',');
    const t0 = performance.now();
    const agent = startAgent(ctx.procs, 'agent', { masterUrl: urls, workerId: id, token, specs: FAKE_SPECS, reconnectBaseMs: 2_000, reconnectCapMs: 4_000 });
    const admitted = await agent.waitForRecord('admitted', (r) => r.event === 'admitted', { timeoutMs: 20_000 });
    const failed = agentEvents(agent, 'connect-failed').length;
    const waits = agentEvents(agent, 'retry').map((r) => Number(r.rec.delay_ms));
    ctx.figure(
      'M1 two of three masters down',
      `admitted ${secs(admitted.atMs - t0)} after start, after ${failed} failed tries; retry delays before it: ${JSON.stringify(waits)} ms (backoff base 2 s)`,
      'admitted within one round: <= 2 failed tries, no backoff delay',
      failed <= 2 && waits.every((w) => w === 0),
    );
  });

  scenario('M2 all three masters down', 60_000, async (ctx) => {
    const id = 'list-2';
    const token = await registerWorker(ctx.target, id);
    const urls = [await closedPort(), await closedPort(), await closedPort()].map((port) => `ws://127.0.0.1:${port}/agent`);
    const capMs = 400;
    const agent = startAgent(ctx.procs, 'agent', { masterUrl: urls.join(','), workerId: id, token, specs: FAKE_SPECS, reconnectBaseMs: 100, reconnectCapMs: capMs });
    await agent.waitForRecord('first failure', (r) => r.event === 'connect-failed', { timeoutMs: 20_000 });
    // Past the first rounds, whose windows are below the cap.
    await hold(1_000);
    const from = agent.lines.length;
    const windowMs = 6_000;
    await hold(windowMs);
    const attempts = agentEvents(agent, 'connect-failed', from).length;
    const perMinute = (attempts * 60_000) / windowMs;
    // At the cap a round is three tries and one wait of cap/2 on average: 3 × 60 s / 0.2 s = 900 a minute.
    // The bound allows a mean wait of cap/3 (draws are random); a backoff per URL would triple the rate.
    const bound = (urls.length * 60_000) / (capMs / 3);
    ctx.figure(
      'M2 all three masters down',
      `${attempts} attempts in ${secs(windowMs)} = ${Math.round(perMinute)} a minute (cap ${capMs} ms, 3 URLs)`,
      `<= ${Math.round(bound)} a minute (3 tries per round, mean wait >= cap/3)`,
      perMinute <= bound && attempts > 0,
    );
  });
});
