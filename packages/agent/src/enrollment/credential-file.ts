import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** The credential's file name in the state directory. */
export const CREDENTIAL_FILE_NAME = 'credential';

/**
 * Stores the credential an enrollment issued, readable by this user only
 * (0600, in a 0700 directory when it creates one). Written to a temporary
 * file, flushed and renamed, so a crash leaves the old file or the new one,
 * never half a token.
 */
export async function storeCredential(path: string, token: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(`${token}\n`, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Whether the state directory can take the credential: made if missing, then a file created and removed. */
export async function checkWritable(directory: string): Promise<void> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const probe = `${directory}/.write-check-${randomBytes(4).toString('hex')}`;
  const handle = await open(probe, 'wx', 0o600);
  await handle.close();
  await rm(probe, { force: true });
}
