import { randomBytes } from 'node:crypto';
import { MongoClient, type Db } from 'mongodb';
import { inject } from 'vitest';

export interface TestDatabase {
  /** URI of the dev database (or MONGODB_URI), without a database name. */
  uri: string;
  /** A database name unique to this test, so files can run in parallel. */
  name: string;
  client: MongoClient;
  db: Db;
  /** Drops the database and closes the client. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Opens a fresh, uniquely named database on the test server. Each test file
 * (or test) gets its own, so nothing leaks between them.
 */
export async function openTestDatabase(prefix = 't'): Promise<TestDatabase> {
  const uri = inject('mongodbUri');
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  const db = client.db(name);
  let closed: Promise<void> | undefined;
  return {
    uri,
    name,
    client,
    db,
    close() {
      closed ??= (async () => {
        try {
          await db.dropDatabase();
        } finally {
          await client.close();
        }
      })();
      return closed;
    },
  };
}
