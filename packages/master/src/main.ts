#!/usr/bin/env node
// The only file of the master that touches the process: it hands argv, env
// and the standard streams to the CLI and turns its result into an exit code.
import { readFileSync } from 'node:fs';
import { earlyListenAddress } from './cli/early-address.js';
import { EarlyListener } from './server/early-listener.js';

const argv = process.argv.slice(2);

// `serve` binds its port before the CLI and the master are loaded (a second or more, several on a
// loaded machine): a restarted master's fleet queues there instead of meeting `connection refused`,
// which grows each agent's backoff. Any failure here (the port taken, a guess the CLI reads
// otherwise) leaves the binding to the master, as before: it reports the error in its own words.
const early = await (async () => {
  const address = earlyListenAddress(argv, process.env);
  return address === undefined ? undefined : EarlyListener.bind(address).catch(() => undefined);
})();

const { hideBin } = await import('yargs/helpers');
const { runCli } = await import('./cli/program.js');
const { processShutdownSignals } = await import('./cli/serve-command.js');

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
  earlyListener: early,
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
// Closed with the master; here too when serve stopped before taking it (a configuration error).
await early?.close();
