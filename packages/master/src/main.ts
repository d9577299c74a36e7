#!/usr/bin/env node
// The only file of the master that touches the process: it hands argv, env
// and the standard streams to the CLI and turns its result into an exit code.
import { readFileSync } from 'node:fs';
import { hideBin } from 'yargs/helpers';
import { runCli } from './cli/program.js';
import { processShutdownSignals } from './cli/serve-command.js';

function packageVersion(): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : undefined;
  } catch {
    return undefined;
  }
}

// A reader that went away (`| head -1`, `| true`) is no error: stop quietly, as `ls | head` does.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

// exitCode rather than exit(): pending writes to a pipe are flushed first.
process.exitCode = await runCli({
  argv: hideBin(process.argv),
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stdoutIsTTY: process.stdout.isTTY === true,
  stdin: process.stdin,
  stderr: (text) => process.stderr.write(text),
  version: packageVersion(),
  signals: processShutdownSignals(),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
});
