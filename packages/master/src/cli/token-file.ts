import { randomBytes } from 'node:crypto';
import { lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { TokenFileError } from '../errors.js';

/**
 * A token file being written: opened before the registry is changed, filled
 * once the token exists. `worker register … --token-file F` and `worker token
 * … --token-file F` go through it, so a token reaches its file without a shell
 * redirection (which truncates the file before the command has even run, and
 * then keeps the empty file when the command fails).
 */
export interface PendingTokenFile {
  /** The file's absolute path. */
  readonly path: string;
  /** Writes the token and puts the file in place (rename over the old one): all or nothing. */
  commit(token: string): Promise<void>;
  /** Drops the temporary file; the old file, if any, stays as it was. Safe after commit. */
  abandon(): Promise<void>;
}

const WORDS: Record<string, string> = {
  ENOENT: 'no such directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  ENOTDIR: 'a part of the path is not a directory',
};

function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined) return WORDS[code] ?? code;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Opens a temporary file beside `target` (same directory, so the final rename
 * is atomic), created 0600 whatever the umask. Whatever makes the file
 * unwritable (no such directory, no permission, a directory in the way) is
 * found here, before a token is issued: the registry is left untouched.
 */
export async function prepareTokenFile(target: string): Promise<PendingTokenFile> {
  const path = resolve(target);
  const existing = await lstat(path).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TokenFileError(`cannot use token file ${path}: ${reason(error)}`);
  });
  if (existing !== undefined && !existing.isFile()) {
    throw new TokenFileError(`cannot use token file ${path}: it exists and is not a regular file`);
  }
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(temporary, 'wx', 0o600);
    // The mode given to open() is reduced by the umask; this one is not.
    await handle.chmod(0o600);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    if (handle !== undefined) await unlink(temporary).catch(() => undefined);
    throw new TokenFileError(`cannot write token file ${path}: ${reason(error)} (${dirname(path)})`);
  }
  let done = false;
  const drop = async (): Promise<void> => {
    if (done) return;
    done = true;
    await handle.close().catch(() => undefined);
    await unlink(temporary).catch(() => undefined);
  };
  return {
    path,
    async commit(token) {
      try {
        await handle.writeFile(`${token}\n`, 'utf8');
        await handle.sync();
        await handle.close();
        done = true;
        await rename(temporary, path);
      } catch (error) {
        done = false;
        await drop();
        throw new TokenFileError(`cannot write token file ${path}: ${reason(error)}`);
      }
    },
    abandon: drop,
  };
}
