import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const stateDir = `${root}.cache/devdb/vitest`;

declare module 'vitest' {
  export interface ProvidedContext {
    mongodbUri: string;
    devdbStateDir: string;
  }
}

/**
 * Tests use the database `MONGODB_URI` points at (scripts/test.sh starts the
 * dev database and sets it); started alone, vitest starts its own dev database.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.MONGODB_URI;
  if (given !== undefined && given !== '') {
    project.provide('mongodbUri', given);
    project.provide('devdbStateDir', process.env.DEVDB_STATE_DIR ?? '');
    return async () => {};
  }
  const { stdout } = await run('bash', ['scripts/devdb.sh', 'start', '--state-dir', stateDir], { cwd: root });
  project.provide('mongodbUri', stdout.trim());
  project.provide('devdbStateDir', stateDir);
  return async () => {
    await run('bash', ['scripts/devdb.sh', 'stop', '--state-dir', stateDir], { cwd: root });
  };
}
