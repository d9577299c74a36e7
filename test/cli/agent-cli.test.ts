import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT, cleanEnv, run, runCli } from './run-cli.js';

/** The built agent (scripts/test.sh builds before the tests), as `pnpm -s cluster-agent` runs it. */
const AGENT_MAIN = 'packages/agent/dist/main.js';

/** No AGENT_* or LOG_LEVEL of the caller's: each test says what the agent sees. */
function agentEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = cleanEnv({});
  for (const name of Object.keys(env)) if (name.startsWith('AGENT_') || name === 'LOG_LEVEL') delete env[name];
  return { ...env, ...extra };
}

function agent(args: readonly string[], extra: Record<string, string> = {}) {
  return run(process.execPath, [AGENT_MAIN, ...args], agentEnv(extra));
}

describe('cluster-agent errors (spawned)', () => {
  it('a usage error is one line in the master\'s form, with a stable code, exit 2', async () => {
    const result = await agent(['bogus']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('cluster-agent: error [USAGE]: Unknown argument: bogus (see --help)\n');

    // The master says the same mistake in the same form.
    const master = await runCli(['bogus'], {});
    expect(master.code).toBe(2);
    expect(master.stderr).toBe('cluster-master: error [USAGE]: Unknown argument: bogus (see --help)\n');
  });

  it('a bad setting is a usage error too; a bad worker id has the master\'s code for it', async () => {
    const url = await agent(['run'], { AGENT_MASTER_URL: 'http://m.example', AGENT_TOKEN: 'tok_0123456789abcdefgh' });
    expect(url.code).toBe(2);
    expect(url.stderr).toBe('cluster-agent: error [USAGE]: AGENT_MASTER_URL must start with ws:// or wss://, not http:// (see --help)\n');

    const id = await agent(['run', '--worker-id', 'a b'], { AGENT_MASTER_URL: 'ws://m.example', AGENT_TOKEN: 'tok_0123456789abcdefgh' });
    expect(id.code).toBe(2);
    expect(id.stderr).toMatch(/^cluster-agent: error \[INVALID_WORKER_ID\]: worker id "a b" \(from --worker-id\) is not valid: [^\n]*\n$/);
    expect(id.stderr).not.toContain('tok_0123456789abcdefgh');
  });
});

describe('cluster-agent output into a closed pipe (spawned)', () => {
  /** Runs the agent with its stdout a pipe whose reader is gone before anything is written. */
  function intoClosedPipe(args: readonly string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [AGENT_MAIN, ...args], { cwd: ROOT, env: agentEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.destroy();
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ code, signal, stderr }));
    });
  }

  it.each([[['probe', '--json']], [['probe']], [['--help']]])('%j exits 0 without a word', async (args) => {
    const result = await intoClosedPipe(args);
    expect(result.stderr).toBe('');
    expect(result).toMatchObject({ code: 0, signal: null });
  });

  it('`probe --json | head -c 10` in a shell: the first bytes, then a quiet exit 0', async () => {
    const result = await run('bash', ['-c', `set -o pipefail; "${process.execPath}" ${AGENT_MAIN} probe --json | head -c 10`], agentEnv());
    expect(result.stdout).toBe('{\n  "specs');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});

describe('cluster-agent probe --json (spawned)', () => {
  it('uses one key style, snake_case like the registry fields, at every depth', async () => {
    const result = await agent(['probe', '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(Object.keys(report)).toEqual(['specs', 'cpu', 'memory', 'storage', 'gpu', 'host', 'warnings', 'duration_ms']);
    const keys: string[] = [];
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (value !== null && typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) {
          keys.push(k);
          walk(v);
        }
      }
    };
    walk(report);
    expect(keys.filter((k) => !/^[a-z][a-z0-9_]*$/.test(k))).toEqual([]);
  });
});
