import type { Db, Document } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { OPERATOR_OPTIONS } from '../server/options.js';
import { createWorkerEventStore } from './event-store.js';

/**
 * ensure() on a server that keeps TTL indexes (MongoDB). The dev database
 * (FerretDB 1.x) refuses them, so this path is shown against a stand-in for
 * the three calls it makes (indexes, createIndex, collMod); the prune path is
 * shown on the dev database by worker-history.test.ts.
 */
function mongoWithIndexes(indexes: Document[]): { db: Db; commands: Document[]; created: Document[] } {
  const commands: Document[] = [];
  const created: Document[] = [];
  const collection = {
    indexes: () => Promise.resolve(indexes),
    createIndex: (key: Document, options?: Document) => {
      created.push({ key, ...options });
      return Promise.resolve('created');
    },
  };
  const db = {
    collection: () => collection,
    command: (command: Document) => {
      commands.push(command);
      return Promise.resolve({ ok: 1 });
    },
  } as unknown as Db;
  return { db, commands, created };
}

const FIVE_DAYS = 5 * 86_400;
const EXISTING = [{ key: { worker_id: 1, at: 1 } }, { key: { at: 1 }, expireAfterSeconds: FIVE_DAYS }];

describe('the expiry of worker events where the server keeps TTL indexes', () => {
  it('no setting given (db init without --event-ttl-days): an existing TTL is kept as it is', async () => {
    const { db, commands, created } = mongoWithIndexes(EXISTING);
    expect(await createWorkerEventStore(db).ensure(undefined)).toBe('ttl_index');
    expect(commands).toEqual([]);
    expect(created).toEqual([]);
  });

  it('a setting that differs changes the TTL in place (collMod); the same setting changes nothing', async () => {
    const other = mongoWithIndexes(EXISTING);
    await createWorkerEventStore(other.db).ensure(7 * 86_400);
    expect(other.commands).toEqual([{ collMod: 'WORKER_EVENTS', index: { keyPattern: { at: 1 }, expireAfterSeconds: 7 * 86_400 } }]);
    const same = mongoWithIndexes(EXISTING);
    await createWorkerEventStore(same.db).ensure(FIVE_DAYS);
    expect(same.commands).toEqual([]);
  });

  it('none yet: created with the setting, or the default when none is given', async () => {
    const given = mongoWithIndexes([]);
    await createWorkerEventStore(given.db).ensure(FIVE_DAYS);
    expect(given.created).toContainEqual({ key: { at: 1 }, expireAfterSeconds: FIVE_DAYS });
    const fresh = mongoWithIndexes([]);
    await createWorkerEventStore(fresh.db).ensure(undefined);
    expect(fresh.created).toContainEqual({ key: { at: 1 }, expireAfterSeconds: OPERATOR_OPTIONS.eventTtlDays.default * 86_400 });
  });
});
