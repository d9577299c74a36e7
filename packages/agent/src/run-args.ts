/**
 * The command line of `cluster-agent run` as the unit and most operators give
 * it (`run`, then `--flag value` or `--flag=value` pairs), read without yargs.
 *
 * Why: yargs costs the resident daemon about 7 MB for a parse it does once
 * at start. Anything this reader is not certain yargs reads the same way
 * (help, version, completion, an unknown or repeated flag, a value that starts
 * with '-' or is quoted or empty, anything after `--`) makes it answer
 * undefined, and yargs, loaded then, parses the whole line: its output,
 * errors and help stay the only ones. run-args.test.ts holds both readers to
 * the same result.
 */
export function quickRunArgs(argv: readonly string[], runFlags: ReadonlySet<string>): Record<string, unknown> | undefined {
  if (argv[0] !== 'run') return undefined;
  const args: Record<string, unknown> = { _: ['run'] };
  for (let i = 1; i < argv.length; i += 1) {
    const word = argv[i] as string;
    if (!word.startsWith('--')) return undefined;
    const equals = word.indexOf('=');
    const flag = equals === -1 ? word.slice(2) : word.slice(2, equals);
    if (!runFlags.has(flag) || flag in args) return undefined;
    let value: string | undefined;
    if (equals === -1) {
      i += 1;
      value = argv[i];
    } else value = word.slice(equals + 1);
    if (value === undefined || !isPlainValue(value)) return undefined;
    args[flag] = value;
  }
  return args;
}

/** A value yargs-parser takes verbatim: not empty, not flag-like, not wrapped in quotes (which it strips). */
function isPlainValue(value: string): boolean {
  if (value === '' || value.startsWith('-')) return false;
  return !/^["']|["']$/.test(value);
}
