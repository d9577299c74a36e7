import { describe, expect, it } from 'vitest';
import { cleanEnv, run, runCli } from './run-cli.js';

/**
 * The two command lines speak with one voice: the same help layout (-h and
 * --help, capitalised descriptions, lines not wrapped to the terminal's
 * width) and the same error line, `<program>: error [CODE]: <what> (see --help)`.
 */
const AGENT_MAIN = 'packages/agent/dist/main.js';

function agent(args: readonly string[]) {
  const env = cleanEnv({ COLUMNS: '60' });
  for (const name of Object.keys(env)) if (name.startsWith('AGENT_')) delete env[name];
  return run(process.execPath, [AGENT_MAIN, ...args], env);
}
const master = (args: readonly string[]) => runCli(args, { COLUMNS: '60' });

/** The lines of a help section ("Commands:", "Options:"), up to the next blank line. */
function section(help: string, title: string): string[] {
  const lines = help.split('\n');
  const start = lines.indexOf(title);
  if (start === -1) throw new Error(`no "${title}" section in:\n${help}`);
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

describe('help (spawned)', () => {
  it.each([
    ['cluster-agent', agent],
    ['cluster-master', master],
  ])('%s -h is its --help, exit 0, nothing on stderr', async (_name, cli) => {
    const short = await cli(['-h']);
    const long = await cli(['--help']);
    expect(short).toMatchObject({ code: 0, stderr: '' });
    expect(short.stdout).toBe(long.stdout);
  });

  it.each([
    ['cluster-agent', 'run --help', agent],
    ['cluster-master', 'serve --help', master],
    ['cluster-master', 'worker --help', master],
  ] as const)('%s %s: capitalised descriptions, -h listed, one line per entry however narrow the terminal', async (name, command, cli) => {
    const args = command.split(' ');
    const help = (await cli(args)).stdout;
    const options = section(help, 'Options:');
    expect(options).toContainEqual(expect.stringMatching(/^ {2}-h, --help +Show help +\[boolean\]$/));
    // An entry starts with its flag; a line that does not is a description wrapped to the terminal.
    expect(options.filter((line) => !/^ {2}(-\w, )? *--[a-z-]+ /.test(line))).toEqual([]);
    for (const line of options) expect(line.replace(/^ {2}(-\w, )? *--[a-z-]+ +/, ''), line).toMatch(/^[A-Z]/);
    if (args[0] === 'worker') {
      for (const line of section(help, 'Commands:')) expect(line, line).toMatch(new RegExp(`^ {2}${name} worker \\S+.* {2,}[A-Z]`));
    }
  });

  it('both top-level helps list their commands with capitalised descriptions', async () => {
    for (const [name, cli] of [['cluster-agent', agent], ['cluster-master', master]] as const) {
      const commands = section((await cli(['--help'])).stdout, 'Commands:');
      expect(commands.length).toBeGreaterThan(1);
      for (const line of commands) expect(line, line).toMatch(new RegExp(`^ {2}${name} \\w+( \\[\\S+\\])? +[A-Z]`));
    }
  });
});

describe('errors (spawned)', () => {
  it('no command: one line saying which to choose, in the same words', async () => {
    expect(await agent([])).toMatchObject({ code: 2, stdout: '', stderr: 'cluster-agent: error [USAGE]: choose a command: run, probe or pretty (see --help)\n' });
    expect(await master([])).toMatchObject({
      code: 2,
      stdout: '',
      stderr: 'cluster-master: error [USAGE]: choose a command: serve, restart, worker, db, admin, enroll or pretty (see --help)\n',
    });
  });

  it('worker register without its operands names them', async () => {
    for (const args of [['worker', 'register'], ['worker', 'register', 'gpu-01']]) {
      const result = await master(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe('cluster-master: error [USAGE]: missing arguments: cluster-master worker register takes <worker_id> <worker_ip> (see --help)\n');
    }
    expect((await master(['worker', 'show'])).stderr).toBe(
      'cluster-master: error [USAGE]: missing arguments: cluster-master worker show takes <worker_id> (see --help)\n',
    );
  });
});
