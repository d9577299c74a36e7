import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TokenError, fixedToken, tokenFile } from './token.js';

const FIRST = 'tok_first_0123456789abcdef';
const SECOND = 'tok_second_0123456789abcdef';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-token-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('tokenFile', () => {
  it('reads the file again at every read: a token rewritten between two attempts is the one sent next', async () => {
    const path = join(dir, 'worker.token');
    await writeFile(path, `${FIRST}\n`);
    const source = tokenFile(path, readFile);
    expect(source.rereads).toBe(true);
    expect(await source.read()).toBe(FIRST);
    await writeFile(path, `${SECOND}\n`);
    expect(await source.read()).toBe(SECOND);
    // Emptied (a failed write): the next read says so, and a good token afterwards is read again.
    await writeFile(path, '');
    await expect(source.read()).rejects.toThrow(new TokenError(`token file ${path} is empty`));
    await writeFile(path, FIRST);
    expect(await source.read()).toBe(FIRST);
  });

  it('a file that went missing is named in the error; put back, it is read', async () => {
    const path = join(dir, 'worker.token');
    const source = tokenFile(path, readFile);
    await expect(source.read()).rejects.toThrow(`cannot read token file ${path}: ENOENT`);
    await writeFile(path, SECOND);
    expect(await source.read()).toBe(SECOND);
  });
});

describe('fixedToken', () => {
  it('is the same token every time, and says it is not re-read', async () => {
    const source = fixedToken(FIRST, 'AGENT_TOKEN');
    expect(await source.read()).toBe(FIRST);
    expect(source).toMatchObject({ where: 'AGENT_TOKEN', rereads: false });
  });
});
