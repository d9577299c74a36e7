import { describe, expect, it } from 'vitest';
import { parseWithYargs, RUN_FLAGS } from './config.js';
import { quickRunArgs } from './run-args.js';

/** What yargs read for `run`: the command and the run flags given (it adds camelCase twins and `$0`, which nothing reads). */
async function yargsRead(argv: string[]): Promise<Record<string, unknown>> {
  const read = await parseWithYargs(argv, '0.1.0');
  if (!('args' in read)) throw new Error(`yargs did not read ${JSON.stringify(argv)}: ${JSON.stringify(read.invocation)}`);
  return Object.fromEntries(Object.entries(read.args).filter(([key]) => key === '_' || RUN_FLAGS.has(key)));
}

describe('quickRunArgs', () => {
  it.each([
    [['run']],
    [['run', '--master-url', 'ws://m:8080', '--worker-id', 'w-1']],
    [['run', '--master-url=ws://a:1,wss://b:2/agent', '--token-file=/etc/cluster-agent/token']],
    [['run', '--log-level', 'debug', '--reconnect-base-ms', '007', '--reconnect-cap-ms=1e3']],
    [['run', '--worker-id', 'true', '--token', 'tok_abc=def', '--fake-specs', '{"total_cpu":8,"total_gpu":0}']],
    [['run', '--welcome-timeout-ms', '0x10', '--state-directory', '/var/lib/a b', '--ca-file', 'ca.pem']],
  ])('reads %j as yargs does', async (argv) => {
    const quick = quickRunArgs(argv, RUN_FLAGS);
    expect(quick).toBeDefined();
    expect(quick).toEqual(await yargsRead(argv));
  });

  it.each([
    [[]],
    [['probe']],
    [['pretty', 'a.log']],
    [['completion']],
    [['--help']],
    [['run', '--help']],
    [['run', '-h']],
    [['run', '--version']],
    [['run', '--get-yargs-completions', 'run', '--']],
    [['run', 'extra']],
    [['run', '--unknown', 'x']],
    [['run', '--masterUrl', 'ws://m']],
    [['run', '--worker-id']],
    [['run', '--worker-id', '']],
    [['run', '--worker-id=']],
    [['run', '--worker-id', '-w']],
    [['run', '--worker-id', '--token', 'x']],
    [['run', '--reconnect-base-ms', '-5']],
    [['run', '--worker-id', '"w1"']],
    [['run', "--worker-id='w1'"]],
    [['run', '--master-url', 'ws://a', '--master-url', 'ws://b']],
    [['run', '--', '--worker-id', 'w']],
    [['run', '-w', 'x']],
  ])('leaves %j to yargs', (argv) => {
    expect(quickRunArgs(argv, RUN_FLAGS)).toBeUndefined();
  });
});
