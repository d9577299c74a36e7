import type { CommandModule } from 'yargs';
import { assertWorkerAddress, assertWorkerId } from '../../registry/validate.js';
import type { CommandContext } from '../context.js';
import { formatWorkerDetails, workerToJson } from '../format.js';
import { prepareTokenFile, type PendingTokenFile } from '../token-file.js';
import { TokenFileError, UsageError } from '../../errors.js';
import { singleString } from '../arguments.js';
import { batchOf, registerBatch } from './worker-register-batch.js';

interface Args {
  worker_id: string | undefined;
  worker_ip: string | undefined;
  json: boolean;
  'token-file': string | undefined;
  from: string | undefined;
  ip: string | undefined;
}

export const ONCE_NOTICE =
  'This token is shown only this once and cannot be read back: put it in the worker\'s agent configuration now.';

export const TOKEN_FILE_OPTION =
  'Write the token to this file (created or replaced as a whole, mode 0600) instead of printing it; on any error the file is left as it was';

/** Puts an issued token in its file; if that fails, says how to get another, since this one is lost. */
export async function writeTokenFile(file: PendingTokenFile, token: string, workerId: string): Promise<void> {
  try {
    await file.commit(token);
  } catch (error) {
    throw new TokenFileError(
      `${(error as Error).message}; the token issued for worker ${workerId} is lost: issue another with cluster-master worker token ${workerId} --token-file FILE`,
      false,
    );
  }
}

export function workerRegisterCommand(ctx: CommandContext): CommandModule<object, Args> {
  return {
    command: 'register [worker_id] [worker_ip]',
    describe: 'Register a worker and issue its token (shown once); many at once with --from FILE or a range (gpu-[01-64] --ip 10.0.4.[21-84]), which wait for enrollment',
    builder: (yargs) =>
      yargs
        .positional('worker_id', {
          type: 'string',
          describe: "Worker id: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit; or a range such as gpu-[01-64]",
        })
        .positional('worker_ip', {
          type: 'string',
          describe: 'Address the worker connects from: IPv4, IPv6 or a host name (for a range: --ip)',
        })
        .option('from', { type: 'string', requiresArg: true, coerce: singleString('from'), describe: 'Register every "WORKER_ID ADDRESS" line of this file (- for standard input), all or none; no tokens are issued: the workers enroll (cluster-master enroll create)' })
        .option('ip', { type: 'string', requiresArg: true, coerce: singleString('ip'), describe: 'With a worker id range: the address range, paired in order (10.0.4.[21-84])' })
        .option('json', { type: 'boolean', default: false, describe: 'Print {"worker": …, "token": …} as JSON ({"workers": […]} for many)' })
        .option('token-file', { type: 'string', requiresArg: true, describe: TOKEN_FILE_OPTION })
        .conflicts('from', ['token-file', 'ip']),
    async handler(args) {
      const batch = batchOf(args);
      if (batch !== undefined) {
        await registerBatch(ctx, batch, args.json);
        return;
      }
      if (args.worker_id === undefined || args.worker_ip === undefined) {
        throw new UsageError('missing arguments: cluster-master worker register takes <worker_id> <worker_ip>');
      }
      // Checked before connecting: a typo is answered at once, without a database.
      assertWorkerId(args.worker_id);
      assertWorkerAddress(args.worker_ip);
      const file = args['token-file'] === undefined ? undefined : await prepareTokenFile(args['token-file']);
      try {
        const { registry, credentials } = await ctx.services();
        // The unique index on worker_id is what makes double registration fail.
        await registry.ensureCollections();
        await credentials.removeOrphans();
        const worker = await registry.registerWorker(args.worker_id, args.worker_ip);
        let token: string;
        try {
          token = await credentials.issue(worker.worker_id);
        } catch (error) {
          throw new Error(
            `worker "${worker.worker_id}" was registered but its token could not be issued (${(error as Error).message}); issue one with: cluster-master worker token ${worker.worker_id}`,
            { cause: error },
          );
        }
        if (file !== undefined) await writeTokenFile(file, token, worker.worker_id);
        if (args.json) {
          const secret = file === undefined ? { token } : { token_file: file.path };
          ctx.stdout(`${JSON.stringify({ worker: workerToJson(worker), ...secret }, null, 2)}\n`);
          return;
        }
        ctx.stdout(
          [
            `Registered worker ${worker.worker_id} (${worker.worker_ip}).`,
            '',
            formatWorkerDetails(worker, ctx.now()),
            '',
            ...(file === undefined
              ? [`Token: ${token}`, '', ONCE_NOTICE]
              : [`Token written to ${file.path} (mode 0600); it is not shown.`]),
            `Lost it? Issue a new one with: cluster-master worker token ${worker.worker_id}`,
            '',
          ].join('\n'),
        );
      } finally {
        await file?.abandon();
      }
    },
  };
}
