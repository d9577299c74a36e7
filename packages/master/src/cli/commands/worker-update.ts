import type { CommandModule } from 'yargs';
import { assertWorkerAddress, assertWorkerId } from '../../registry/validate.js';
import type { CommandContext } from '../context.js';
import { formatWorkerDetails, workerToJson } from '../format.js';

interface Args {
  worker_id: string;
  ip: string;
  json: boolean;
}

/**
 * `worker update <worker_id> --ip <ip>`: a worker that moved keeps its token
 * and registered_at (re-registering would replace both). Masters close a
 * session admitted from the old address; the agent is admitted again from the new one.
 */
export function workerUpdateCommand(ctx: CommandContext): CommandModule<object, Args> {
  return {
    command: 'update <worker_id>',
    describe: "Change a worker's registered address (worker_ip); its token stays",
    builder: (yargs) =>
      yargs
        .positional('worker_id', { type: 'string', demandOption: true, describe: 'Worker id' })
        .option('ip', {
          type: 'string',
          demandOption: true,
          requiresArg: true,
          describe: 'Address the worker connects from now: IPv4, IPv6 or a host name',
        })
        .option('json', { type: 'boolean', default: false, describe: 'Print the updated worker as JSON' }),
    async handler(args) {
      assertWorkerId(args.worker_id);
      assertWorkerAddress(args.ip);
      const { registry } = await ctx.services();
      const worker = await registry.updateWorkerIp(args.worker_id, args.ip);
      ctx.stdout(
        args.json
          ? `${JSON.stringify(workerToJson(worker), null, 2)}\n`
          : [`Worker ${worker.worker_id} now registered at ${worker.worker_ip}; its token is unchanged.`, '', formatWorkerDetails(worker, ctx.now()), ''].join('\n'),
      );
    },
  };
}
