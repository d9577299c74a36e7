import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { DatabaseUnavailableError, InvalidDatabaseSettingsError } from '../errors.js';
import { connectDatabase } from './connect.js';
import { mongoSettingsFromEnv } from './settings.js';
import { closedPort } from './test-support/closed-port.js';

const PASSWORD = 'Tr0ub4dor&3:@/x';

describe('connectDatabase', () => {
  it('connects to the dev database and describes it without credentials', async () => {
    const connection = await connectDatabase(
      mongoSettingsFromEnv({ MONGODB_URI: inject('mongodbUri'), MONGODB_DATABASE: 'connect_test' }),
      { serverSelectionTimeoutMS: 5_000 },
    );
    try {
      expect(connection.db.databaseName).toBe('connect_test');
      expect(connection.describe()).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+\/connect_test$/);
      await expect(connection.db.command({ ping: 1 })).resolves.toMatchObject({ ok: 1 });
    } finally {
      await connection.close();
      // close() twice is safe.
      await connection.close();
    }
  });

  it('fails with DatabaseUnavailableError within the timeout, naming the host and never the password', async () => {
    const port = await closedPort();
    const settings = mongoSettingsFromEnv({
      MONGODB_HOST: `127.0.0.1:${port}`,
      MONGODB_USERNAME: 'cloudai',
      MONGODB_PASSWORD: PASSWORD,
    });
    const started = Date.now();
    const error = await connectDatabase(settings, { serverSelectionTimeoutMS: 500 }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    const message = (error as Error).message;
    expect(message).toContain(`127.0.0.1:${port}`);
    expect(message).not.toContain(PASSWORD);
    expect(message).not.toContain(encodeURIComponent(PASSWORD));
    expect(message).not.toContain('Tr0ub4dor');
    expect(message).not.toContain('\n');
  });

  it('lets a serverSelectionTimeoutMS written in the URI win over the one given in code', async () => {
    const port = await closedPort();
    const settings = mongoSettingsFromEnv({ MONGODB_URI: `mongodb://127.0.0.1:${port}/?serverSelectionTimeoutMS=200` });
    const started = Date.now();
    await expect(connectDatabase(settings, { serverSelectionTimeoutMS: 20_000 })).rejects.toBeInstanceOf(
      DatabaseUnavailableError,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('reports a connection string the driver refuses as a settings error, without its password', async () => {
    const settings = mongoSettingsFromEnv({ MONGODB_URI: `mongodb://u:${encodeURIComponent(PASSWORD)}@host:notaport/` });
    const error = await connectDatabase(settings).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidDatabaseSettingsError);
    expect((error as Error).message).not.toContain('Tr0ub4dor');
  });
});
