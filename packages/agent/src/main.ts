#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { hideBin } from 'yargs/helpers';
import { runCli } from './cli.js';
import { errorLine } from './errors.js';

// The one file that touches the process: argv, env, signals, exit.

/** Set by the release bundler (scripts/release/bundle.mjs): a single executable has no package.json beside it. */
declare const CLUSTER_BUNDLED_VERSION: string | undefined;

function packageVersion(): string {
  if (typeof CLUSTER_BUNDLED_VERSION === 'string') return CLUSTER_BUNDLED_VERSION;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

// A reader that went away (`cluster-agent probe --json | head -c 10`) ends the
// output, as for `ls | head`: exit quietly, with 0, instead of an unhandled
// 'error' event. The daemon's log does not go through these streams.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

runCli({
  argv: hideBin(process.argv),
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  hostname: () => os.hostname(),
  readFile: (path) => readFile(path),
  onSignal: (signal, handler) => process.on(signal, handler),
  exit: (code) => process.exit(code),
  version: packageVersion(),
}).catch((err: unknown) => {
  // One line, as for every other error: never a stack trace on an operator's terminal.
  process.stderr.write(`${errorLine('INTERNAL', err instanceof Error ? err.message : String(err))}\n`);
  process.exit(1);
});
