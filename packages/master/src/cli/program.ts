import yargs from 'yargs';
import { UsageError } from '../errors.js';
import { adminTokenCommand } from './commands/admin-token.js';
import { dbInitCommand } from './commands/db-init.js';
import { prettyCommand } from './commands/pretty.js';
import { workerEventsCommand } from './commands/worker-events.js';
import { enrollCommands } from './commands/enroll.js';
import { workerListCommand } from './commands/worker-list.js';
import { workerRegisterCommand } from './commands/worker-register.js';
import { workerShowCommand } from './commands/worker-show.js';
import { workerTokenCommand } from './commands/worker-token.js';
import { workerUnregisterCommand } from './commands/worker-unregister.js';
import { workerUpdateCommand } from './commands/worker-update.js';
import { serveCommand } from './serve-command.js';
import { restartCommand } from './commands/restart.js';
import { checkArgv } from './argv-check.js';
import { createCommandContext, type CliOptions } from './context.js';
import { EXIT, errorLine, exitCodeFor, type ExitCode } from './exit-codes.js';

const ENVIRONMENT = [
  'Environment:',
  '  MONGODB_URI        connection string (wins over MONGODB_HOST)',
  '  MONGODB_HOST       host[:port], default localhost:27017',
  '  MONGODB_USERNAME   user name',
  '  MONGODB_PASSWORD   password (never printed)',
  '  MONGODB_DATABASE   database, default cluster_db',
  '',
  'Exit codes: 0 success, 1 operation failed, 2 bad usage.',
].join('\n');

/**
 * yargs' count of missing operands ("Not enough non-option arguments: got 0,
 * need at least 2") names none of them: say which, from the usage line of the
 * command it was parsing (yargs hands its usage object to the fail handler;
 * getUsage is not in its types, hence the narrow check).
 */
export function usageMessage(message: string, usage: unknown): string {
  if (!message.startsWith('Not enough non-option arguments')) return message;
  const lines: unknown = (usage as { getUsage?: () => unknown } | null)?.getUsage?.();
  const entry: unknown = Array.isArray(lines) ? (lines as unknown[])[0] : undefined;
  const first: unknown = Array.isArray(entry) ? (entry as unknown[])[0] : undefined;
  if (typeof first !== 'string') return message;
  const line = first.replace('$0', 'cluster-master');
  const operands = line.match(/<[^>]+>/g)?.join(' ');
  return operands === undefined ? message : `missing arguments: ${line.replace(/ <.*$/, '')} takes ${operands}`;
}

/**
 * Runs the cluster-master command line once and returns its exit code. It never touches the
 * process: arguments, environment, output and the database come in as options
 * (main.ts passes the real ones), so tests drive it in-process too.
 *
 * Every failure ends as exactly one line on stderr: yargs' own reports (usage
 * dump, "Unknown argument") are turned into UsageError by the fail handler,
 * and errors from handlers reach the same catch below.
 */
export async function runCli(options: CliOptions): Promise<ExitCode> {
  const ctx = createCommandContext(options);
  let help = '';
  let argv: string[];
  try {
    argv = checkArgv(options.argv);
  } catch (error) {
    options.stderr(`${errorLine(error, ctx.hide)}\n`);
    await ctx.close();
    return exitCodeFor(error);
  }
  const parser = yargs(argv)
    .scriptName('cluster-master')
    .usage(
      "$0 <command>\n\nThe cluster master: runs the agents' endpoint (serve) and administers the workers in cluster_db.WORKER_REGISTRY.",
    )
    .command(serveCommand({ env: options.env, stdout: options.stdout, stdoutIsTTY: options.stdoutIsTTY, signals: options.signals, earlyListener: options.earlyListener }))
    .command(restartCommand({ env: options.env, stdout: options.stdout, now: ctx.now }))
    .command('worker', 'Register, list, show, update and unregister workers; issue tokens; show their history', (worker) =>
      worker
        .command(workerRegisterCommand(ctx))
        .command(workerListCommand(ctx))
        .command(workerShowCommand(ctx))
        .command(workerUnregisterCommand(ctx))
        .command(workerTokenCommand(ctx))
        .command(workerUpdateCommand(ctx))
        .command(workerEventsCommand(ctx))
        .demandCommand(1, 'choose a worker command: register, list, show, unregister, token, update or events'),
    )
    .command('db', 'Database maintenance', (db) =>
      db.command(dbInitCommand(ctx)).demandCommand(1, 'choose a db command: init'),
    )
    .command('admin', "Admin credentials for the master's web page and HTTP API", (admin) =>
      admin.command(adminTokenCommand(ctx)).demandCommand(1, 'choose an admin command: token'),
    )
    .command('enroll', 'Enrollment tokens: registered machines fetch their own credentials with one token per batch', (enroll) => {
      const commands = enrollCommands(ctx);
      return enroll.command(commands.create).command(commands.list).command(commands.revoke).demandCommand(1, 'choose an enroll command: create, list or revoke');
    })
    .command(prettyCommand({ stdin: options.stdin, stdout: options.stdout, colors: options.stdoutIsTTY === true && options.env.NO_COLOR === undefined }))
    .demandCommand(1, 'choose a command: serve, restart, worker, db, admin, enroll or pretty')
    // `completion` prints a bash script; the .deb installs it (/usr/share/bash-completion/completions).
    .completion('completion', 'Print the bash completion script (source it, or put it in bash-completion\'s directory)')
    .strict()
    .help()
    .alias('help', 'h')
    .epilog(ENVIRONMENT)
    .wrap(null)
    .exitProcess(false)
    .showHelpOnFail(false)
    .fail((message: string | null | undefined, error: Error | undefined, usage: unknown) => {
      // yargs reports its own findings (and a coerce function's throw) as a
      // message or as a YError; anything else came from a command handler.
      if (error === undefined || error.name === 'YError') {
        throw new UsageError(usageMessage(message ?? error?.message ?? 'invalid command line', usage));
      }
      throw error;
    });

  if (options.version === undefined) parser.version(false);
  else parser.version(options.version);

  try {
    // With a parse callback yargs hands help and version text to us instead
    // of printing it, so all output goes through options.stdout.
    await parser.parseAsync(argv, {}, (_error, _argv, output) => {
      help = output;
    });
    if (help !== '') options.stdout(help.endsWith('\n') ? help : `${help}\n`);
    return EXIT.ok;
  } catch (error) {
    options.stderr(`${ctx.errorLine(error)}\n`);
    return exitCodeFor(error);
  } finally {
    await ctx.close();
  }
}
