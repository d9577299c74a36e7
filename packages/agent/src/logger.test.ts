import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { captureLogs } from './test-support/logs.js';

describe('logger', () => {
  it('writes one JSON line per event', () => {
    const logs = captureLogs();
    const log = createLogger({ level: 'info', destination: logs.destination });
    log.info({ event: 'connected' }, 'connected');
    log.debug({ event: 'hidden' }, 'below the level');
    expect(logs.text().trim().split('\n')).toHaveLength(1);
    expect(logs.entries[0]).toMatchObject({ level: 30, event: 'connected', msg: 'connected', name: 'cluster-agent' });
  });

  it('censors credentials wherever a careless log call puts them', () => {
    const logs = captureLogs();
    const log = createLogger({ level: 'info', destination: logs.destination });
    const secret = 'tok_never_logged_0123456789';
    log.info({ token: secret, config: { token: secret }, headers: { authorization: `Bearer ${secret}` }, req: { authorization: secret } }, 'oops');
    expect(logs.text()).not.toContain(secret);
    expect(logs.entries[0]).toMatchObject({ token: '[redacted]', config: { token: '[redacted]' }, headers: { authorization: '[redacted]' } });
  });
});
