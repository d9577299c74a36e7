import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkWritable, storeCredential } from './credential-file.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'credential-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('storeCredential', () => {
  it('writes the token 0600 into a 0700 directory it creates, replacing the file as a whole', async () => {
    const file = join(dir, 'state', 'credential');
    await checkWritable(join(dir, 'state'));
    expect((await stat(join(dir, 'state'))).mode & 0o777).toBe(0o700);
    await storeCredential(file, 'first_0123456789abcdef');
    await storeCredential(file, 'second_0123456789abcdef');
    expect(await readFile(file, 'utf8')).toBe('second_0123456789abcdef\n');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(join(dir, 'state'))).toEqual(['credential']);
  });

  it('a directory it cannot write is an error before any enrollment', async () => {
    await storeCredential(join(dir, 'a-file'), 'x_0123456789abcdefgh');
    await expect(checkWritable(join(dir, 'a-file', 'state'))).rejects.toThrow(/ENOTDIR|EEXIST/);
  });
});
