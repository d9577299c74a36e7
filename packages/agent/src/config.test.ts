import { DEFAULTS } from '@cluster/protocol';
import { describe, expect, it } from 'vitest';
import { parseInvocation, type ConfigDeps, type Env } from './config.js';

const TOKEN = 'tok_config_0123456789abcdef';
const files: Record<string, string> = {
  '/etc/agent/token': `  ${TOKEN}\n`,
  '/etc/agent/empty': '\n',
  '/etc/agent/bad-token': 'not a token!\n',
  '/etc/agent/ca.pem': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  '/etc/agent/not-pem': 'hello',
  '/run/credentials/cluster-agent.service/token': `${TOKEN}\n`,
  '/run/credentials/empty/token': '',
  '/run/credentials/fallback/token': 'none',
};
const deps: ConfigDeps = {
  hostname: () => 'gpu-node-7',
  readFile: (path) => {
    const text = files[path];
    if (text === undefined) return Promise.reject(Object.assign(new Error(`ENOENT: ${path}`), { code: path.includes('secret') ? 'EACCES' : 'ENOENT' }));
    return Promise.resolve(Buffer.from(text));
  },
  version: '1.2.3',
};
const base: Env = { AGENT_MASTER_URL: 'ws://master.example:8080', AGENT_TOKEN_FILE: '/etc/agent/token' };

async function run(argv: string[], env: Env = base) {
  return parseInvocation(['run', ...argv], env, deps);
}
async function runConfig(argv: string[], env: Env = base) {
  const r = await run(argv, env);
  if (r.command !== 'run') throw new Error(`expected a run config, got ${JSON.stringify(r)}`);
  return r.config;
}
async function invalid(argv: string[], env: Env = base): Promise<string> {
  const r = await run(argv, env);
  if (r.command !== 'invalid') throw new Error(`expected invalid, got ${r.command}`);
  expect(r.message).not.toContain('\n');
  expect(r.message).not.toContain(TOKEN);
  return r.message;
}

describe('run configuration', () => {
  it('comes from the environment, with the protocol defaults', async () => {
    expect(await runConfig([])).toEqual({
      masterUrls: ['ws://master.example:8080/agent'],
      workerId: 'gpu-node-7',
      token: TOKEN,
      tokenFile: '/etc/agent/token',
      tokenFrom: 'AGENT_TOKEN_FILE',
      enrollment: undefined,
      credentialFile: '/var/lib/cluster-agent/credential',
      ca: undefined,
      logLevel: 'info',
      reconnectBaseMs: DEFAULTS.reconnectBaseMs,
      reconnectCapMs: DEFAULTS.reconnectCapMs,
      refusedRetryMs: DEFAULTS.refusedRetryMs,
      stableConnectionMs: DEFAULTS.stableConnectionMs,
      reprobeIntervalMs: DEFAULTS.reprobeIntervalMs,
      welcomeTimeoutMs: DEFAULTS.helloTimeoutMs,
      fakeSpecs: undefined,
    });
  });

  it("takes the token from the unit's credential (LoadCredential=) when no other setting names one", async () => {
    const env: Env = { AGENT_MASTER_URL: 'ws://master.example:8080', CREDENTIALS_DIRECTORY: '/run/credentials/cluster-agent.service' };
    const config = await runConfig([], env);
    expect(config).toMatchObject({ token: TOKEN, tokenFile: undefined });
    expect(config.tokenFrom).toContain('LoadCredential=');
    // AGENT_TOKEN in agent.env (the install before LoadCredential=) still wins, so an upgrade changes nothing.
    expect(await runConfig([], { ...env, AGENT_TOKEN: 'tok_inline_0123456789abc' })).toMatchObject({ token: 'tok_inline_0123456789abc', tokenFrom: 'AGENT_TOKEN' });
    // The unit's fallback (SetCredential=token:none, no /etc/cluster-agent/token), or an empty file: as if there were none.
    expect(await invalid([], { ...env, CREDENTIALS_DIRECTORY: '/run/credentials/empty' })).toMatch(/^no credential/);
    expect(await invalid([], { ...env, CREDENTIALS_DIRECTORY: '/run/credentials/fallback' })).toMatch(/^no credential/);
  });

  it('lets flags beat the environment', async () => {
    const c = await runConfig(
      ['--master-url', 'wss://m2.example/cluster/agent', '--worker-id', 'w-2', '--token', 'flag_token_0123456789', '--log-level', 'debug', '--reconnect-base-ms', '50', '--reconnect-cap-ms', '400'],
      { ...base, AGENT_WORKER_ID: 'from-env', LOG_LEVEL: 'warn', AGENT_TOKEN: 'env_token_0123456789ab' },
    );
    expect(c).toMatchObject({
      masterUrls: ['wss://m2.example/cluster/agent'],
      workerId: 'w-2',
      token: 'flag_token_0123456789',
      logLevel: 'debug',
      reconnectBaseMs: 50,
      reconnectCapMs: 400,
    });
  });

  it('reads tuning from AGENT_* variables too', async () => {
    const c = await runConfig([], { ...base, AGENT_REFUSED_RETRY_MS: '1000', AGENT_REPROBE_INTERVAL_MS: '2000', AGENT_WORKER_ID: 'env-id' });
    expect(c).toMatchObject({ refusedRetryMs: 1000, reprobeIntervalMs: 2000, workerId: 'env-id' });
  });

  it('keeps a path the URL names and adds /agent when it names none', async () => {
    expect((await runConfig(['--master-url', 'ws://10.0.0.1:9000/'])).masterUrls).toEqual(['ws://10.0.0.1:9000/agent']);
    expect((await runConfig(['--master-url', 'wss://lb.example/registry/ws'])).masterUrls).toEqual(['wss://lb.example/registry/ws']);
  });

  it('takes several masters: a comma-separated list, a repeated flag, or both; in order, each once', async () => {
    expect((await runConfig(['--master-url', 'ws://a:1, ws://b:2/x ,', '--master-url', 'ws://c:3', '--master-url', 'ws://a:1/agent'])).masterUrls).toEqual([
      'ws://a:1/agent',
      'ws://b:2/x',
      'ws://c:3/agent',
    ]);
    expect((await runConfig([], { ...base, AGENT_MASTER_URL: 'ws://m1:8080,ws://m2:8080,ws://m3:8080' })).masterUrls).toEqual([
      'ws://m1:8080/agent',
      'ws://m2:8080/agent',
      'ws://m3:8080/agent',
    ]);
    // The flag replaces the whole environment list, as every other flag does.
    expect((await runConfig(['--master-url', 'ws://f:1'], { ...base, AGENT_MASTER_URL: 'ws://m1:8080,ws://m2:8080' })).masterUrls).toEqual(['ws://f:1/agent']);
  });

  it('reads a CA file for wss://', async () => {
    const c = await runConfig(['--master-url', 'wss://m.example', '--ca-file', '/etc/agent/ca.pem']);
    expect(c.ca?.toString()).toContain('BEGIN CERTIFICATE');
  });

  it('takes fake specs, honestly named, validated by the protocol schema', async () => {
    const c = await runConfig([], { ...base, AGENT_FAKE_SPECS: '{"total_cpu":8,"total_memory":31.25,"total_storage":512,"total_gpu":1}' });
    expect(c.fakeSpecs).toEqual({ total_cpu: 8, total_memory: 31.25, total_storage: 512, total_gpu: 1 });
  });
});

describe('bad configuration: one clear line', () => {
  it.each([
    ['no master URL', [], { AGENT_TOKEN_FILE: '/etc/agent/token' }, /^no master URL: set AGENT_MASTER_URL/],
    ['a malformed URL', ['--master-url', 'master:8080:x'], base, /must start with ws:\/\/ or wss:\/\//],
    ['not a URL at all', ['--master-url', 'nope'], base, /is not a URL/],
    ['a bad entry in a list', ['--master-url', 'ws://a:1,http://b:2'], base, /--master-url must start with ws:\/\/ or wss:\/\//],
    ['a list of only commas', [], { ...base, AGENT_MASTER_URL: ' , ,' }, /^no master URL: set AGENT_MASTER_URL/],
    ['an http URL', ['--master-url', 'http://m.example'], base, /must start with ws:\/\/ or wss:\/\//],
    ['credentials in the URL', ['--master-url', 'ws://u:p@m.example'], base, /must not carry credentials/],
    ['an unreadable token file', [], { ...base, AGENT_TOKEN_FILE: '/etc/agent/secret' }, /^cannot read token file \/etc\/agent\/secret \(AGENT_TOKEN_FILE\): EACCES$/],
    ['a missing token file', ['--token-file', '/nope'], base, /^cannot read token file \/nope \(--token-file\): ENOENT$/],
    ['an empty token file', [], { ...base, AGENT_TOKEN_FILE: '/etc/agent/empty' }, /is empty/],
    ['a malformed token', [], { ...base, AGENT_TOKEN_FILE: '/etc/agent/bad-token' }, /malformed/],
    ['no token at all', [], { AGENT_MASTER_URL: 'ws://m' }, /^no credential/],
    ['two tokens', ['--token', TOKEN, '--token-file', '/etc/agent/token'], base, /either --token or --token-file/],
    ['a bad worker id', ['--worker-id', 'a b'], base, /worker id "a b" \(from --worker-id\) is not valid/],
    ['a bad log level', [], { ...base, LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    ['a non-number', ['--reconnect-base-ms', 'soon'], base, /--reconnect-base-ms must be a positive whole number/],
    ['a cap below the base', ['--reconnect-base-ms', '5000', '--reconnect-cap-ms', '100'], base, /cap .* below/],
    ['a CA file without TLS', ['--ca-file', '/etc/agent/ca.pem'], base, /no master URL is wss:\/\//],
    ['a CA file without a certificate', ['--master-url', 'wss://m', '--ca-file', '/etc/agent/not-pem'], base, /no PEM certificate/],
    ['bad fake specs', [], { ...base, AGENT_FAKE_SPECS: '{"total_cpu":-1}' }, /AGENT_FAKE_SPECS is not valid specs/],
    ['an unknown flag', ['--mastr-url', 'ws://x'], base, /Unknown argument/i],
  ] as const)('%s', async (_name, argv, env, pattern) => {
    expect(await invalid([...argv], env)).toMatch(pattern);
  });

  it('an invalid host name as default worker id names the variable to set', async () => {
    const r = await parseInvocation(['run'], base, { ...deps, hostname: () => 'x'.repeat(70) });
    expect(r).toMatchObject({ command: 'invalid', message: expect.stringContaining('set AGENT_WORKER_ID') as unknown });
  });

  it('no command at all', async () => {
    expect(await parseInvocation([], base, deps)).toEqual({ command: 'invalid', code: 'USAGE', message: 'choose a command: run, probe or pretty' });
  });
});

describe('commands', () => {
  it('probe, with --json', async () => {
    expect(await parseInvocation(['probe'], {}, deps)).toEqual({ command: 'probe', json: false });
    expect(await parseInvocation(['probe', '--json'], {}, deps)).toEqual({ command: 'probe', json: true });
  });

  it('--help lists every option with its variable', async () => {
    const r = await parseInvocation(['run', '--help'], {}, deps);
    expect(r.command).toBe('print');
    if (r.command !== 'print') return;
    for (const text of ['--master-url', 'AGENT_MASTER_URL', '--token-file', 'AGENT_TOKEN_FILE', '--ca-file', 'LOG_LEVEL', '--fake-specs', 'AGENT_FAKE_SPECS']) {
      expect(r.output).toContain(text);
    }
  });

  it('--version', async () => {
    expect(await parseInvocation(['--version'], {}, deps)).toEqual({ command: 'print', output: '1.2.3' });
  });
});
