import type { CommandModule } from 'yargs';
import { assertWorkerAddress, assertWorkerId } from '../../registry/validate.js';
import type { CommandContext } from '../context.js';
import { formatWorkerDetails, workerToJson } from '../format.js';

interface Args {
  worker_id: string;
  worker_ip: string;
  json: boolean;
}

export const ONCE_NOTICE =
  'This token is shown only this once and cannot be read back: put it in the worker\'s agent configuration now.';

export function workerRegisterCommand(ctx: CommandContext): CommandModule<object, Args> {
  return {
    command: 'register <worker_id> <worker_ip>',
    describe: 'Register a worker and issue its token (shown once)',
    builder: (yargs) =>
      yargs
        .positional('worker_id', {
          type: 'string',
          demandOption: true,
          describe: "Worker id: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        })
        .positional('worker_ip', {
          type: 'string',
          demandOption: true,
          describe: 'Address the worker connects from: IPv4, IPv6 or a host name',
        })
        .option('json', { type: 'boolean', default: false, describe: 'Print {"worker": …, "token": …} as JSON' }),
    async handler(args) {
      // Checked before connecting: a typo is answered at once, without a database.
      assertWorkerId(args.worker_id);
      assertWorkerAddress(args.worker_ip);
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
      if (args.json) {
        ctx.stdout(`${JSON.stringify({ worker: workerToJson(worker), token }, null, 2)}\n`);
        return;
      }
      ctx.stdout(
        [
          `Registered worker ${worker.worker_id} (${worker.worker_ip}).`,
          '',
          formatWorkerDetails(worker, ctx.now()),
          '',
          `Token: ${token}`,
          '',
          ONCE_NOTICE,
          `Lost it? Issue a new one with: cluster-master worker token ${worker.worker_id}`,
          '',
        ].join('\n'),
      );
    },
  };
}
