import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { EXIT, errorLine, exitCodeFor } from '../exit-codes.js';
import { markerMeansRestart } from '../planned-restart.js';
import { restartCommand, type Systemctl } from './restart.js';

// The command's order of work with a fake systemctl behind its narrow interface; the real
// `systemctl restart` under systemd is in test/systemd/packages.test.ts.
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'restart-command-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function restart(systemctl: Systemctl, unit = 'cluster-master.service'): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const command = restartCommand({ env: { MASTER_RESTART_MARKER: join(dir, 'run/planned-restart') }, stdout: (t) => out.push(t), now: () => new Date(), systemctl });
  try {
    await command.handler({ unit, _: [], $0: 'cluster-master' });
    return { code: EXIT.ok, out: out.join(''), err: '' };
  } catch (error) {
    // What runCli prints and returns for it.
    return { code: exitCodeFor(error), out: out.join(''), err: `${errorLine(error, (t) => t)}\n` };
  }
}

test('writes the marker, runs systemctl restart with it in place, removes it after', async () => {
  const seen: { args: string[]; marker: string }[] = [];
  const result = await restart(async (args) => {
    seen.push({ args, marker: await readFile(join(dir, 'run/planned-restart'), 'utf8') });
    return { code: 0, output: '' };
  });
  expect(result).toMatchObject({ code: 0, err: '' });
  expect(result.out).toBe('cluster-master.service restarted (planned: the workers it served were left active for the new master)\n');
  expect(seen.map((s) => s.args)).toEqual([['restart', 'cluster-master.service']]);
  expect(markerMeansRestart(seen[0]?.marker ?? '', Date.now())).toBe(true);
  await expect(access(join(dir, 'run/planned-restart'))).rejects.toThrow();
});

test('a failing systemctl: exit 1 with one RESTART_FAILED line, and the marker is gone all the same', async () => {
  const result = await restart(() => Promise.resolve({ code: 5, output: 'Failed to restart nope.service: Unit nope.service not found.' }), 'nope.service');
  expect(result.code).toBe(1);
  expect(result.err).toBe(
    'cluster-master: error [RESTART_FAILED]: systemctl restart nope.service exited 5: Failed to restart nope.service: Unit nope.service not found.; see: systemctl status nope.service\n',
  );
  await expect(access(join(dir, 'run/planned-restart'))).rejects.toThrow();
});
