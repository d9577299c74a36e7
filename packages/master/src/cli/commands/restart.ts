import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CommandModule } from 'yargs';
import type { Env } from '../../db/settings.js';
import { RestartFailedError } from '../../errors.js';
import type { Write } from '../context.js';
import { markerContent, RESTART_MARKER_ENV, RESTART_MARKER_PATH } from '../planned-restart.js';

/** Runs systemctl with these arguments; resolves with its exit status and what it printed. */
export type Systemctl = (args: string[]) => Promise<{ code: number; output: string }>;

export interface RestartDeps {
  env: Env;
  stdout: Write;
  now: () => Date;
  systemctl?: Systemctl;
  /** The marker's file operations; default node:fs. */
  files?: {
    write(path: string, content: string): Promise<void>;
    remove(path: string): Promise<void>;
  };
}

const defaultSystemctl: Systemctl = (args) =>
  new Promise((resolve) => {
    execFile('systemctl', args, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, output: `${stdout}${stderr}`.trim() || (error?.message ?? '') });
    });
  });

const defaultFiles: NonNullable<RestartDeps['files']> = {
  async write(path, content) {
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    // Readable by the service's dynamic user; it holds a deadline, nothing secret.
    await writeFile(path, content, { mode: 0o644 });
  },
  remove: (path) => rm(path, { force: true }),
};

interface Args {
  unit: string;
}

/**
 * `cluster-master restart`: `systemctl restart` of the service, marked as
 * planned, so the stopping master leaves its workers active for the one that
 * starts (no hand-over grace, no flag); `systemctl stop` and `systemctl
 * restart` alone are stops (the workers are flagged after the grace). The
 * marker holds a deadline and is removed afterwards, whatever happened.
 */
export function restartCommand(deps: RestartDeps): CommandModule<object, Args> {
  return {
    command: 'restart',
    describe: 'Restart the cluster-master service as planned: its workers stay active for the master that starts (run as root)',
    builder: (yargs) => yargs.option('unit', { type: 'string', default: 'cluster-master.service', describe: 'The systemd unit to restart' }),
    async handler(args) {
      const marker = deps.env[RESTART_MARKER_ENV] || RESTART_MARKER_PATH;
      const files = deps.files ?? defaultFiles;
      const systemctl = deps.systemctl ?? defaultSystemctl;
      try {
        await files.write(marker, markerContent(deps.now().getTime()));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? String(error);
        throw new RestartFailedError(`cannot write the planned-restart marker ${marker} (${code}); run as root, or use systemctl restart (the workers are then flagged after the hand-over grace)`);
      }
      let result: { code: number; output: string };
      try {
        result = await systemctl(['restart', args.unit]);
      } finally {
        await files.remove(marker).catch(() => undefined);
      }
      if (result.code !== 0) {
        throw new RestartFailedError(`systemctl restart ${args.unit} exited ${result.code}: ${result.output}; see: systemctl status ${args.unit}`);
      }
      deps.stdout(`${args.unit} restarted (planned: the workers it served were left active for the new master)\n`);
    },
  };
}
