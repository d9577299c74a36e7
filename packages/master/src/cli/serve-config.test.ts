import { describe, expect, test } from 'vitest';
import { exitCodeFor } from './exit-codes.js';
import { ConfigError, parseServeConfig, type ServeFlags } from './serve-config.js';

const readable = { isReadable: (path: string) => path.startsWith('/ok/') };
const parse = (flags: ServeFlags = {}, env: Record<string, string> = {}) => parseServeConfig(flags, env, readable);

function refusal(flags: ServeFlags, env: Record<string, string> = {}): string {
  try {
    parse(flags, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect(exitCodeFor(error)).toBe(2);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected a ConfigError');
}

describe('parseServeConfig', () => {
  test('defaults', () => {
    expect(parse()).toMatchObject({
      host: '0.0.0.0',
      port: 8080,
      heartbeatIntervalMs: 5_000,
      heartbeatTimeoutMs: 15_000,
      flushIntervalMs: 1_000,
      helloTimeoutMs: 10_000,
      viewRefreshMs: 5_000,
      checkSourceAddress: true,
      tls: undefined,
      logLevel: 'info',
      mongo: { database: 'cluster_db', hosts: 'localhost:27017' },
    });
  });

  test("the TLS key from the unit's credential (LoadCredential=) when only the certificate is named", () => {
    const env = { MASTER_TLS_CERT: '/ok/cert.pem', CREDENTIALS_DIRECTORY: '/ok/credentials', MONGODB_URI: 'mongodb://db1:27017/' };
    expect(parse({}, env)).toMatchObject({ tls: { certPath: '/ok/cert.pem', keyPath: '/ok/credentials/tls-key' } });
    // MASTER_TLS_KEY still wins; without a certificate the credential is not used.
    expect(parse({}, { ...env, MASTER_TLS_KEY: '/ok/key.pem' })).toMatchObject({ tls: { keyPath: '/ok/key.pem' } });
    expect(parse({}, { CREDENTIALS_DIRECTORY: '/ok/credentials', MONGODB_URI: 'mongodb://db1:27017/' })).toMatchObject({ tls: undefined });
    // The unit's fallback ("none": no key file): not a key, so the certificate alone is refused.
    expect(() => parseServeConfig({}, env, { ...readable, holdsCredential: () => false })).toThrow(/give both --tls-cert and --tls-key/);
  });

  test('environment variables, and flags over them', () => {
    const env = {
      MASTER_HOST: '127.0.0.1',
      MASTER_PORT: '0',
      MASTER_HEARTBEAT_INTERVAL_MS: '1000',
      MASTER_HEARTBEAT_TIMEOUT_MS: '3000',
      MASTER_TLS_CERT: '/ok/cert.pem',
      MASTER_TLS_KEY: '/ok/key.pem',
      MASTER_CHECK_SOURCE_ADDRESS: 'false',
      LOG_LEVEL: 'debug',
      MONGODB_URI: 'mongodb://db1:27017/',
    };
    expect(parse({}, env)).toMatchObject({
      host: '127.0.0.1',
      port: 0,
      heartbeatIntervalMs: 1_000,
      heartbeatTimeoutMs: 3_000,
      tls: { certPath: '/ok/cert.pem', keyPath: '/ok/key.pem' },
      checkSourceAddress: false,
      logLevel: 'debug',
      mongo: { hosts: 'db1:27017' },
    });
    expect(parse({ port: '9000', checkSourceAddress: true, logLevel: 'warn', heartbeatTimeoutMs: '2000' }, env)).toMatchObject({
      port: 9000,
      checkSourceAddress: true,
      logLevel: 'warn',
      heartbeatTimeoutMs: 2_000,
    });
  });

  test.each<[string, ServeFlags, Record<string, string>, string]>([
    ['port not a number', { port: 'eighty' }, {}, '--port must be a whole number'],
    ['port too big', { port: '70000' }, {}, '--port must be from 0 to 65535'],
    ['port from env', {}, { MASTER_PORT: '-1' }, 'MASTER_PORT must be a whole number'],
    ['timeout under two intervals', { heartbeatIntervalMs: '5000', heartbeatTimeoutMs: '9000' }, {}, 'at least two heartbeat intervals'],
    ['interval too small', { heartbeatIntervalMs: '5' }, {}, '--heartbeat-interval-ms must be from 10'],
    ['flush over half the timeout', { flushIntervalMs: '9000' }, {}, '--flush-interval-ms (9000) must be at most half'],
    ['view refresh over 5 s', { viewRefreshMs: '10000' }, {}, '--view-refresh-ms must be from 100 to 5000'],
    ['cert without key', { tlsCert: '/ok/cert.pem' }, {}, 'give both --tls-cert and --tls-key'],
    ['key without cert (env)', {}, { MASTER_TLS_KEY: '/ok/key.pem' }, 'give both --tls-cert and --tls-key'],
    ['unreadable cert', { tlsCert: '/nope/cert.pem', tlsKey: '/ok/key.pem' }, {}, '--tls-cert: cannot read "/nope/cert.pem"'],
    ['bad boolean', {}, { MASTER_CHECK_SOURCE_ADDRESS: 'maybe' }, 'MASTER_CHECK_SOURCE_ADDRESS must be true or false'],
    ['bad log level', { logLevel: 'loud' }, {}, '--log-level must be one of fatal, error, warn, info, debug, trace, silent'],
    ['bad host', { host: 'a b' }, {}, '--host must be an address'],
  ])('%s: one clear line, exit 2', (_name, flags, env, expected) => {
    expect(refusal(flags, env)).toContain(expected);
  });

  test('bad database settings are usage errors too (exit 2), without the password', () => {
    let caught: unknown;
    try {
      parse({}, { MONGODB_PASSWORD: 's3cret' });
    } catch (error) {
      caught = error;
    }
    expect(exitCodeFor(caught)).toBe(2);
    expect((caught as Error).message).not.toContain('s3cret');
  });
});
