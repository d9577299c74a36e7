import { MongoClient, MongoServerError } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { closedPort } from '../db/test-support/closed-port.js';
import { isDuplicateKeyError, oneLine } from './driver-errors.js';
import { DatabaseUnavailableError } from '../errors.js';
import { createWorkerRegistry } from './worker-registry.js';

describe('an unreachable database', () => {
  it('fails registry calls with DatabaseUnavailableError within the selection timeout, naming the host only', async () => {
    const port = await closedPort();
    const client = new MongoClient(`mongodb://admin:hunter2-secret@127.0.0.1:${port}/`, { serverSelectionTimeoutMS: 300 });
    try {
      const registry = createWorkerRegistry(client.db('cluster_db'));
      const started = Date.now();
      const error = await registry.getWorker('worker-1').catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(error).toBeInstanceOf(DatabaseUnavailableError);
      expect((error as DatabaseUnavailableError).code).toBe('DATABASE_UNAVAILABLE');
      const message = (error as Error).message;
      expect(message).toContain(`127.0.0.1:${port}`);
      expect(message).not.toContain('hunter2');
      expect(message).not.toContain('\n');
    } finally {
      await client.close();
    }
  });
});

describe('isDuplicateKeyError', () => {
  it("recognises code 11000 and FerretDB's code 1 with SQLite's unique message, nothing else", () => {
    expect(isDuplicateKeyError(new MongoServerError({ code: 11000, errmsg: 'E11000 duplicate key' }))).toBe(true);
    expect(
      isDuplicateKeyError(new MongoServerError({ code: 1, errmsg: "constraint failed: UNIQUE constraint failed: index 'x' (2067)" })),
    ).toBe(true);
    expect(isDuplicateKeyError(new MongoServerError({ code: 1, errmsg: 'other' }))).toBe(false);
    expect(isDuplicateKeyError(new MongoServerError({ code: 85, errmsg: 'UNIQUE constraint failed' }))).toBe(false);
    expect(isDuplicateKeyError(new Error('E11000'))).toBe(false);
  });
});

describe('oneLine', () => {
  it('folds whitespace and caps the length', () => {
    expect(oneLine('a\n  b\tc')).toBe('a b c');
    expect(oneLine('x'.repeat(300))).toHaveLength(201);
  });
});
