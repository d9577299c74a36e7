import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root: the CLI is run from there, as `pnpm cluster-master` does. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The built entry point (scripts/test.sh builds before running the tests). */
export const MAIN = 'packages/master/dist/main.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/**
 * The environment without any MONGODB_* of the caller's, so a test states
 * exactly which database settings the CLI sees.
 */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('MONGODB_')));
  return { ...env, ...extra };
}

export function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, elapsedMs: Date.now() - started }));
  });
}

/** `node packages/master/dist/main.js …`, what `pnpm cluster-master …` runs. */
export function runCli(args: readonly string[], env: Record<string, string>): Promise<CliRun> {
  return run(process.execPath, [MAIN, ...args], cleanEnv(env));
}
