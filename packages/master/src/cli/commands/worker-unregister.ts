import type { CommandModule } from 'yargs';
import { WorkerNotFoundError } from '../../errors.js';
import { assertWorkerId } from '../../registry/validate.js';
import type { CommandContext } from '../context.js';

interface Args {
  worker_id: string;
  json: boolean;
}

export function workerUnregisterCommand(ctx: CommandContext): CommandModule<object, Args> {
  return {
    command: 'unregister <worker_id>',
    describe: 'Delete a worker and its token',
    builder: (yargs) =>
      yargs
        .positional('worker_id', { type: 'string', demandOption: true, describe: 'Worker id' })
        .option('json', { type: 'boolean', default: false, describe: 'Print {"worker_id": …, "unregistered": true}' }),
    async handler(args) {
      assertWorkerId(args.worker_id);
      const { registry, credentials } = await ctx.services();
      let notFound: WorkerNotFoundError | undefined;
      try {
        await registry.unregisterWorker(args.worker_id);
      } catch (error) {
        if (!(error instanceof WorkerNotFoundError)) throw error;
        notFound = error;
      }
      // Also when the worker is gone already: a credential left behind by a
      // hand-deleted document must not outlive it.
      await credentials.remove(args.worker_id);
      if (notFound !== undefined) throw notFound;
      ctx.stdout(
        args.json
          ? `${JSON.stringify({ worker_id: args.worker_id, unregistered: true })}\n`
          : `Unregistered worker ${args.worker_id}; its token no longer admits it.\n`,
      );
    },
  };
}
