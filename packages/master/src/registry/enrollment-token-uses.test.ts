import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../../test/support/database.js';
import { createEnrollmentTokenStore } from './enrollment-token-store.js';

/** A rack enrolling at once, on the dev database: every use counted, and a --uses limit never passed. */

let t: TestDatabase;
beforeEach(async () => {
  t = await openTestDatabase('enroll_uses');
});
afterEach(async () => {
  await t.close();
});

describe("an enrollment token's uses under concurrent enrollments", () => {
  it('20 at once are 20 uses; with --uses 5, exactly 5 pass; released uses are given back exactly', async () => {
    const store = createEnrollmentTokenStore(t.db);
    const now = new Date();
    const open = (await store.issue({ patterns: [], ttlMs: 3_600_000, maxUses: null })).info;
    const results = await Promise.all(Array.from({ length: 20 }, () => store.consume(open.token_id, null, now)));
    expect(results.every(Boolean)).toBe(true);
    expect((await store.list()).find((i) => i.token_id === open.token_id)?.uses).toBe(20);

    await Promise.all(Array.from({ length: 8 }, () => store.release(open.token_id)));
    expect((await store.list()).find((i) => i.token_id === open.token_id)?.uses).toBe(12);

    const limited = (await store.issue({ patterns: [], ttlMs: 3_600_000, maxUses: 5 })).info;
    const passed = await Promise.all(Array.from({ length: 20 }, () => store.consume(limited.token_id, 5, now)));
    expect(passed.filter(Boolean)).toHaveLength(5);
    expect((await store.list()).find((i) => i.token_id === limited.token_id)?.uses).toBe(5);
  });
});
