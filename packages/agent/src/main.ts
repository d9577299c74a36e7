#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { hideBin } from 'yargs/helpers';
import { runCli } from './cli.js';

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

runCli({
  argv: hideBin(process.argv),
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  hostname: () => os.hostname(),
  readFile: (path) => readFile(path),
  onSignal: (signal, handler) => process.on(signal, handler),
  exit: (code) => process.exit(code),
  version: packageVersion(),
}).catch((err: unknown) => {
  process.stderr.write(`cluster-agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
