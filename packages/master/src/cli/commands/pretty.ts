import { createReadStream } from 'node:fs';
import { prettyPrint } from '@cluster/logging';
import type { CommandModule } from 'yargs';
import { UsageError } from '../../errors.js';
import type { Write } from '../context.js';

export interface PrettyIo {
  /** Standard input: where the lines come from without a file (main.ts passes process.stdin). */
  stdin: AsyncIterable<string | Buffer> | undefined;
  stdout: Write;
  /** Colour the levels: stdout is a terminal and NO_COLOR is unset. */
  colors: boolean;
}

interface Args {
  file: string[] | undefined;
}

/**
 * `cluster-master pretty`: a JSON log (the journal, a saved file) as the
 * readable lines a terminal shows, with the executable itself; no Node.js or
 * pino-pretty on the host. The same command is in cluster-agent.
 */
export function prettyCommand(io: PrettyIo): CommandModule<object, Args> {
  return {
    command: 'pretty [file..]',
    describe: 'Print JSON log lines readable (from the files, or stdin: journalctl -u cluster-master -o cat | cluster-master pretty)',
    builder: (yargs) => yargs.positional('file', { type: 'string', array: true, describe: 'log files of JSON lines (- or none: stdin)' }),
    async handler(args) {
      const options = { colors: io.colors, dates: true };
      const files = args.file ?? [];
      for (const file of files.length === 0 ? ['-'] : files) {
        const input = file === '-' ? io.stdin : createReadStream(file);
        if (input === undefined) continue;
        try {
          await prettyPrint(input, { write: io.stdout }, options);
        } catch (error) {
          const why = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
          throw new UsageError(`cannot read ${file} (${why}): name a file of JSON log lines, or pipe them in`);
        }
      }
    },
  };
}
