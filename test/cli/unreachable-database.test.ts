import { describe, expect, it } from 'vitest';
import { closedPort } from '../../packages/master/src/db/test-support/closed-port.js';
import { runCli } from './run-cli.js';

/**
 * Its own file so that its seconds of waiting overlap the other CLI tests.
 * No timeout in the URI here: this is the CLI's own bound (5 s).
 */
describe('cluster-master with an unreachable database', () => {
  it('fails within the bound: exit 1, one line naming the host, never the password', async () => {
    const port = await closedPort();
    const password = 'Sup3r-S3cret:pw@x';
    const result = await runCli(['worker', 'list'], {
      MONGODB_HOST: `127.0.0.1:${port}`,
      MONGODB_USERNAME: 'cloudai',
      MONGODB_PASSWORD: password,
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^cluster-master: error \[DATABASE_UNAVAILABLE\]: [^\n]+\n$/);
    expect(result.stderr).toContain(`127.0.0.1:${port}`);
    expect(result.stderr).not.toContain('Sup3r');
    expect(result.stderr).not.toContain(encodeURIComponent(password));
    expect(result.elapsedMs).toBeGreaterThanOrEqual(4_000);
    expect(result.elapsedMs).toBeLessThan(10_000);
  });

  it('without MONGODB_URI or MONGODB_HOST: the line says the default was tried and where the setting goes', async () => {
    // Nothing listens on MongoDB's default port on a machine that runs these tests (the dev database picks a free port).
    const result = await runCli(['worker', 'list'], {});
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^cluster-master: error \[DATABASE_UNAVAILABLE\]: MongoDB at localhost:27017 is unavailable [^\n]+\n$/);
    expect(result.stderr).toContain('MONGODB_URI is not set, so the default localhost:27017 was tried');
    expect(result.stderr).toContain('/etc/cluster-master/master.env');
    expect(result.stderr).toContain('`bash scripts/devdb.sh status`');
    expect(result.stderr).toContain('export MONGODB_URI=$(bash scripts/devdb.sh uri)');
  });

  it('usage errors do not wait for the database: exit 2 at once', async () => {
    const port = await closedPort();
    const result = await runCli(['worker', 'show', 'bad$id'], { MONGODB_HOST: `127.0.0.1:${port}` });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^cluster-master: error \[INVALID_WORKER_ID\]: [^\n]+\n$/);
    expect(result.elapsedMs).toBeLessThan(3_000);
  });
});
