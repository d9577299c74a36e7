import type { CommandModule } from 'yargs';
import { assertWorkerId } from '../../registry/validate.js';
import type { CommandContext } from '../context.js';
import { ONCE_NOTICE } from './worker-register.js';

interface Args {
  worker_id: string;
  json: boolean;
}

export function workerTokenCommand(ctx: CommandContext): CommandModule<object, Args> {
  return {
    command: 'token <worker_id>',
    describe: "Issue a new token for a worker, replacing its old one (shown once)",
    builder: (yargs) =>
      yargs
        .positional('worker_id', { type: 'string', demandOption: true, describe: 'Worker id' })
        .option('json', { type: 'boolean', default: false, describe: 'Print {"worker_id": …, "token": …} as JSON' }),
    async handler(args) {
      assertWorkerId(args.worker_id);
      const { credentials } = await ctx.services();
      const token = await credentials.rotate(args.worker_id);
      ctx.stdout(
        args.json
          ? `${JSON.stringify({ worker_id: args.worker_id, token }, null, 2)}\n`
          : [`New token for worker ${args.worker_id}; the previous one is replaced.`, '', `Token: ${token}`, '', ONCE_NOTICE, ''].join('\n'),
      );
    },
  };
}
