import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { waitFor } from './harness.js';
import { freePort } from '../../support/free-port.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * A dev database of a test's own (scripts/devdb.sh with its own state
 * directory and a fixed port), for tests that stop, crash and restart it
 * without touching the database the other tests share.
 */
export interface OwnDevDb {
  uri: string;
  /** Starts it (again: same port, same data). */
  start(): Promise<void>;
  /** A graceful stop (SIGTERM; waits for it to exit). */
  stop(): Promise<void>;
  /** kill -9: quicker than a graceful stop, which waits for clients. */
  crash(): Promise<void>;
  /** Stops it and deletes its state directory. */
  remove(): Promise<void>;
}

export async function ownDevDb(label: string): Promise<OwnDevDb> {
  const stateDir = `${root}.cache/devdb/${label}-${randomBytes(4).toString('hex')}`;
  const port = await freePort();
  const devdb = (command: 'start' | 'stop') =>
    run('bash', ['scripts/devdb.sh', command, '--state-dir', stateDir, ...(command === 'start' ? ['--port', String(port)] : [])], {
      cwd: root,
    });
  return {
    uri: `mongodb://127.0.0.1:${port}/`,
    start: async () => void (await devdb('start')),
    stop: async () => void (await devdb('stop')),
    async crash() {
      const pid = Number((await readFile(`${stateDir}/pid`, 'utf8')).trim());
      process.kill(pid, 'SIGKILL');
      await waitFor('database gone', () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      });
    },
    async remove() {
      await devdb('stop');
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}
