import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv } from '../cli/run-cli.js';
import { freePort } from '../support/free-port.js';
import { AGENT_MAIN, FAKE_SPECS } from './support/cluster.js';
import { ProcSet, spawnProc } from './support/processes.js';

/**
 * What the real cluster-agent's log says while every master it knows is
 * down, at its default level: one line per round of the list, naming what it
 * tried and when it tries again. No database and no master:
 * the URLs are ports nothing listens on.
 */

const procs = new ProcSet();
const INFO = 30;

afterAll(async () => {
  await procs.killAll();
});

/** A line that ends a round: the retry with a wait (moving on to the next master at once is debug). */
const endsRound = (rec: Record<string, unknown>): boolean => rec.event === 'retry' && typeof rec.delay_ms === 'number' && rec.delay_ms > 0;

describe('cluster-agent with every master down', () => {
  it('logs one line per round: the masters it tried, why each failed, and when it tries next', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const urls = ports.map((p) => `ws://127.0.0.1:${p}/agent`);
    const env = cleanEnv({});
    for (const key of Object.keys(env)) if (key.startsWith('AGENT_') || key === 'LOG_LEVEL') delete env[key];
    const flags = ['--reconnect-base-ms', '100', '--reconnect-cap-ms', '400', '--fake-specs', JSON.stringify(FAKE_SPECS)];
    const agent = procs.add(
      spawnProc('agent', process.execPath, [AGENT_MAIN, 'run', ...flags, '--master-url', urls.join(','), '--worker-id', 'rounds-01', '--token', 'tok_0123456789abcdefghij'], env),
    );
    const first = await agent.waitForLine('the first round', (l) => l.json !== undefined && endsRound(l.json), { timeoutMs: 15_000 });
    const start = agent.lines.indexOf(first) + 1;
    let at = start;
    for (let round = 0; round < 3; round++) {
      const end = await agent.waitForLine(`round ${round + 2}`, (l) => l.json !== undefined && endsRound(l.json), { from: at, timeoutMs: 15_000 });
      at = agent.lines.indexOf(end) + 1;
    }
    // Three rounds after the first, three lines at info and above: the rounds' own.
    const said = agent.records(start).filter((r) => r.index < at && Number(r.rec.level) >= INFO);
    expect(said.map((r) => r.rec.event), agent.tail(30)).toEqual(['retry', 'retry', 'retry']);
    for (const { rec } of said) {
      // What it tried: each master of the round, with why it failed, in the line's text and its fields.
      for (const url of urls) expect(String(rec.msg)).toContain(url);
      expect(rec.msg).toMatch(/connection refused/);
      expect(rec.msg).toMatch(/next round in \d+\.\d s$/);
      expect((rec.tried as { url: string; error: string }[]).map((t) => t.url).sort()).toEqual([...urls].sort());
      expect(rec.level).toBe(40);
    }
  });
});
