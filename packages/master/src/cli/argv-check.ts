import { UsageError } from '../errors.js';

/** A single dash and more than one letter: `-dash`, which yargs would read as -d -a -s -h (help). */
const SHORT_GROUP = /^-[^-\d]./;

/**
 * Checks the command line before yargs sees it, and ends the options at `--`.
 *
 * The only short option is `-h`; yargs would read `-dash` as `-d -a -s -h` and
 * print help with exit 0, registering nothing. Such an argument, where an id or
 * an address is expected, is a usage error. After `--` every argument is an
 * operand, as in POSIX tools (yargs does not hand those to a command's
 * positionals, so `--` is removed here); worker ids and addresses never start
 * with "-", so an operand that does is refused too.
 */
export function checkArgv(argv: readonly string[]): string[] {
  const end = argv.indexOf('--');
  const options = end === -1 ? argv : argv.slice(0, end);
  const operands = end === -1 ? [] : argv.slice(end + 1);
  for (const arg of options) {
    if (SHORT_GROUP.test(arg)) {
      throw new UsageError(`unknown option ${arg}: options are --name (or -h); a worker id or address never starts with "-"`);
    }
  }
  for (const arg of operands) {
    if (arg.startsWith('-')) throw new UsageError(`${arg} after --: a worker id or address never starts with "-"`);
  }
  return [...options, ...operands];
}
