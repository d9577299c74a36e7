import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cleanEnv, run } from './run-cli.js';

/**
 * Bash completion as the .debs install it: the script `<program> completion`
 * prints, sourced by bash, asks the program on PATH for the words at the
 * cursor. Here the programs on PATH are wrappers of the built entry points.
 */
let bin: string;
beforeAll(async () => {
  bin = await mkdtemp(join(tmpdir(), 'completion-'));
  for (const [name, main] of [['cluster-master', 'packages/master/dist/main.js'], ['cluster-agent', 'packages/agent/dist/main.js']] as const) {
    await writeFile(join(bin, name), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, main)}" "$@"\n`);
    await chmod(join(bin, name), 0o755);
  }
});
afterAll(async () => {
  await rm(bin, { recursive: true, force: true });
});

/** What bash offers for `words` (the last one being completed), through the program's own completion script. */
async function offered(program: string, words: string[]): Promise<string[]> {
  const script = [
    `source <(${program} completion)`,
    `COMP_WORDS=(${[program, ...words].map((w) => `'${w}'`).join(' ')})`,
    `COMP_CWORD=${words.length}`,
    `_${program}_yargs_completions`,
    `printf '%s\\n' "\${COMPREPLY[@]}"`,
  ].join('\n');
  const env = cleanEnv({ PATH: `${bin}:${process.env.PATH ?? ''}` });
  for (const name of Object.keys(env)) if (name.startsWith('AGENT_')) delete env[name];
  const result = await run('bash', ['-c', script], env);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.stdout.split('\n').filter((w) => w !== '');
}

describe('bash completion (spawned)', () => {
  it('cluster-master worker <TAB> lists the worker subcommands', async () => {
    expect(await offered('cluster-master', ['worker', ''])).toEqual(['register', 'list', 'show', 'unregister', 'token', 'update', 'events']);
  });

  it('cluster-master <TAB> lists its commands; a prefix narrows them', async () => {
    expect(await offered('cluster-master', [''])).toEqual(expect.arrayContaining(['serve', 'worker', 'db', 'admin']));
    expect(await offered('cluster-master', ['w'])).toEqual(['worker']);
  });

  it('cluster-agent <TAB> lists run and probe', async () => {
    expect(await offered('cluster-agent', [''])).toEqual(expect.arrayContaining(['run', 'probe']));
  });
});
