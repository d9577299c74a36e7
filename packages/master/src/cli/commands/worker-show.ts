import type { CommandModule } from 'yargs';
import { WorkerNotFoundError } from '../../errors.js';
import { assertWorkerId } from '../../registry/validate.js';
import type { CommandContext } from '../context.js';
import { formatWorkerDetails, workerToJson } from '../format.js';

interface Args {
  worker_id: string;
  json: boolean;
}

export function workerShowCommand(ctx: CommandContext): CommandModule<object, Args> {
  return {
    command: 'show <worker_id>',
    describe: 'Show one worker',
    builder: (yargs) =>
      yargs
        .positional('worker_id', { type: 'string', demandOption: true, describe: 'Worker id' })
        .option('json', { type: 'boolean', default: false, describe: 'Print a JSON object (dates in ISO 8601)' }),
    async handler(args) {
      assertWorkerId(args.worker_id);
      const { registry } = await ctx.services();
      const worker = await registry.getWorker(args.worker_id);
      if (worker === null) throw new WorkerNotFoundError(args.worker_id);
      ctx.stdout(
        args.json ? `${JSON.stringify(workerToJson(worker), null, 2)}\n` : `${formatWorkerDetails(worker, ctx.now())}\n`,
      );
    },
  };
}
