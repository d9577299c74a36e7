import { describe, expect, it } from 'vitest';
import { parseInvocation, type ConfigDeps, type Env } from '../config.js';

const ENROLL = 'enroll_0123456789abcdefghij';
const STORED = 'stored_0123456789abcdefghij';
const files: Record<string, string> = {
  '/etc/agent/enroll': `${ENROLL}\n`,
  '/var/lib/enrolled/credential': `${STORED}\n`,
  '/var/lib/damaged/credential': 'not a token!\n',
};
const deps: ConfigDeps = {
  hostname: () => 'gpu-07',
  readFile: (path) => {
    const text = files[path];
    return text === undefined ? Promise.reject(Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' })) : Promise.resolve(Buffer.from(text));
  },
  version: '1.2.3',
};
const base: Env = { AGENT_MASTER_URL: 'ws://master:8080', AGENT_ENROLL_TOKEN: ENROLL };

async function config(env: Env, argv: string[] = []) {
  const r = await parseInvocation(['run', ...argv], env, deps);
  if (r.command !== 'run') throw new Error(`expected a run config, got ${JSON.stringify(r)}`);
  return r.config;
}

describe('which credential the agent uses', () => {
  it('no credential stored yet: enrolls, and the session then reads the stored credential', async () => {
    const c = await config({ ...base, STATE_DIRECTORY: '/var/lib/fresh' });
    expect(c.enrollment).toEqual({ token: ENROLL, from: 'AGENT_ENROLL_TOKEN' });
    expect(c.credentialFile).toBe('/var/lib/fresh/credential');
    expect(c.tokenFile).toBe('/var/lib/fresh/credential');
  });

  it('a stored credential wins over the enrollment token (the same agent.env after enrolling)', async () => {
    const c = await config({ ...base, STATE_DIRECTORY: '/var/lib/enrolled' });
    expect(c.enrollment).toBeUndefined();
    expect(c.token).toBe(STORED);
    expect(c.tokenFile).toBe('/var/lib/enrolled/credential');
  });

  it('and is used with no enrollment token left in agent.env', async () => {
    const c = await config({ AGENT_MASTER_URL: 'ws://master:8080', AGENT_STATE_DIRECTORY: '/var/lib/enrolled' });
    expect(c.token).toBe(STORED);
  });

  it('a token given explicitly wins over both', async () => {
    const c = await config({ ...base, AGENT_TOKEN: 'explicit_0123456789abcdef', STATE_DIRECTORY: '/var/lib/enrolled' });
    expect(c.enrollment).toBeUndefined();
    expect(c.token).toBe('explicit_0123456789abcdef');
  });

  it('the enrollment token from a file; the default state directory; AGENT_STATE_DIRECTORY beats $STATE_DIRECTORY', async () => {
    const c = await config({ AGENT_MASTER_URL: 'ws://master:8080', AGENT_ENROLL_TOKEN_FILE: '/etc/agent/enroll' });
    expect(c.enrollment?.token).toBe(ENROLL);
    expect(c.credentialFile).toBe('/var/lib/cluster-agent/credential');
    const d = await config({ ...base, STATE_DIRECTORY: '/a:/b', AGENT_STATE_DIRECTORY: '/c' });
    expect(d.credentialFile).toBe('/c/credential');
    expect((await config({ ...base, STATE_DIRECTORY: '/a:/b' })).credentialFile).toBe('/a/credential');
  });

  it('a damaged stored credential is one clear line, not an enrollment', async () => {
    const r = await parseInvocation(['run'], { ...base, STATE_DIRECTORY: '/var/lib/damaged' }, deps);
    expect(r).toMatchObject({ command: 'invalid', message: expect.stringMatching(/stored credential \/var\/lib\/damaged\/credential is malformed/) as string });
  });

  it('both enrollment settings: refused', async () => {
    const r = await parseInvocation(['run'], { ...base, AGENT_ENROLL_TOKEN_FILE: '/etc/agent/enroll' }, deps);
    expect(r).toMatchObject({ command: 'invalid', message: 'set either AGENT_ENROLL_TOKEN or AGENT_ENROLL_TOKEN_FILE, not both' });
  });
});
