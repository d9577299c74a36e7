import type { CommandModule } from 'yargs';
import { assertWorkerId } from '../../registry/validate.js';
import type { CommandContext } from '../context.js';
import { prepareTokenFile } from '../token-file.js';
import { ONCE_NOTICE, TOKEN_FILE_OPTION, writeTokenFile } from './worker-register.js';

interface Args {
  worker_id: string;
  json: boolean;
  'token-file': string | undefined;
}

export function workerTokenCommand(ctx: CommandContext): CommandModule<object, Args> {
  return {
    command: 'token <worker_id>',
    describe: "Issue a new token for a worker, replacing its old one (shown once)",
    builder: (yargs) =>
      yargs
        .positional('worker_id', { type: 'string', demandOption: true, describe: 'Worker id' })
        .option('json', { type: 'boolean', default: false, describe: 'Print {"worker_id": …, "token": …} as JSON' })
        .option('token-file', { type: 'string', requiresArg: true, describe: TOKEN_FILE_OPTION }),
    async handler(args) {
      assertWorkerId(args.worker_id);
      // Opened first: a token file that cannot be written leaves the old token in force.
      const file = args['token-file'] === undefined ? undefined : await prepareTokenFile(args['token-file']);
      try {
        const { credentials } = await ctx.services();
        const token = await credentials.rotate(args.worker_id);
        if (file !== undefined) await writeTokenFile(file, token, args.worker_id);
        const secret = file === undefined ? { token } : { token_file: file.path };
        ctx.stdout(
          args.json
            ? `${JSON.stringify({ worker_id: args.worker_id, ...secret }, null, 2)}\n`
            : [
                `New token for worker ${args.worker_id}; the previous one is replaced.`,
                '',
                ...(file === undefined ? [`Token: ${token}`, '', ONCE_NOTICE] : [`Token written to ${file.path} (mode 0600); it is not shown.`]),
                '',
              ].join('\n'),
        );
      } finally {
        await file?.abandon();
      }
    },
  };
}
