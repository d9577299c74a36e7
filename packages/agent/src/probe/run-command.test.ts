import { describe, expect, it } from 'vitest';
import { runCommand } from './run-command.js';

/** The real execFile wrapper, with real children. */
describe('runCommand', () => {
  it('returns stdout', async () => {
    expect(await runCommand('printf', ['%s', 'ok'], 5_000)).toEqual({ ok: true, stdout: 'ok' });
  });

  it('tells a missing program from a failing one', async () => {
    expect(await runCommand('definitely-not-installed-agent-test', [], 5_000)).toMatchObject({ ok: false, reason: 'not-found' });
    expect(await runCommand('sh', ['-c', 'echo "driver not loaded" >&2; exit 9'], 5_000)).toEqual({
      ok: false,
      reason: 'failed',
      message: 'sh failed: driver not loaded',
    });
  });

  it('kills a child that runs past its timeout', async () => {
    const started = performance.now();
    expect(await runCommand('sleep', ['30'], 200)).toMatchObject({ ok: false, reason: 'timeout' });
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
