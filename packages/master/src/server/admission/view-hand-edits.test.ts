import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { createAdmissionCounts } from '../../registry/admission-counts.js';
import { createAdmissionVersion } from '../../registry/admission-version.js';
import { COLLECTIONS } from '../../registry/collections.js';
import { createCredentialStore } from '../../registry/credential-store.js';
import { hashToken } from '../../registry/token.js';
import { createWorkerRegistry, type WorkerRegistry } from '../../registry/worker-registry.js';
import { ManualClock, captureLogger, testHealth } from '../test-support/fakes.js';
import { AdmissionView } from './view.js';

/**
 * Edits made outside cluster-master (mongosh) set no admission version. On the
 * dev database, as the master wires it: a document or credential inserted or
 * deleted moves a count and is read at the next count check; an edit in place
 * is read at the next full read.
 */
let t: TestDatabase;
let registry: WorkerRegistry;
let reads: number;

const COUNT_CHECK_MS = 60_000;
const FULL_REFRESH_MS = 600_000;

beforeEach(async () => {
  t = await openTestDatabase('view_hand_edits');
  registry = createWorkerRegistry(t.db);
  await registry.ensureCollections();
  reads = 0;
});

afterEach(async () => {
  await t.close();
});

async function startView(): Promise<{ view: AdmissionView; clock: ManualClock; checkEvery: (ms: number) => Promise<void> }> {
  const clock = new ManualClock();
  const view = new AdmissionView({
    registry: { listAdmissionView: () => ((reads += 1), registry.listAdmissionView()) },
    credentials: createCredentialStore(t.db),
    clock,
    health: testHealth(clock).health,
    logger: captureLogger().logger,
    missRefreshMinIntervalMs: 0,
    version: createAdmissionVersion(t.db),
    counts: createAdmissionCounts(t.db),
    countCheckMs: COUNT_CHECK_MS,
    fullRefreshMs: FULL_REFRESH_MS,
  });
  expect(await view.check()).toBe(true);
  /** The master's periodic check, once per count period, for `ms`. */
  const checkEvery = async (ms: number): Promise<void> => {
    for (let passed = 0; passed < ms; passed += COUNT_CHECK_MS) {
      clock.monoMs += COUNT_CHECK_MS;
      expect(await view.check()).toBe(true);
    }
  };
  return { view, clock, checkEvery };
}

async function registerTwo(): Promise<void> {
  const credentials = createCredentialStore(t.db);
  for (const id of ['w-1', 'w-2']) {
    await registry.registerWorker(id, '10.0.0.1');
    await credentials.issue(id);
  }
}

describe('hand edits reach the admission view (dev database)', () => {
  it('a worker document deleted by hand leaves the view at the next count check, without a full read before', async () => {
    await registerTwo();
    const { view, checkEvery } = await startView();
    await checkEvery(3 * COUNT_CHECK_MS);
    expect(reads).toBe(1); // counts unchanged: no read of every worker
    await t.db.collection(COLLECTIONS.workers).deleteOne({ worker_id: 'w-2' });
    await checkEvery(COUNT_CHECK_MS);
    expect(view.get('w-2')).toBeUndefined();
    expect(view.get('w-1')).toBeDefined();
    expect(reads).toBe(2);
  });

  it('a credential deleted by hand admits nobody from the next count check on', async () => {
    await registerTwo();
    const { view, checkEvery } = await startView();
    expect(view.get('w-1')?.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    await t.db.collection(COLLECTIONS.credentials).deleteOne({ worker_id: 'w-1' });
    await checkEvery(COUNT_CHECK_MS);
    expect(view.get('w-1')?.tokenHash).toBeUndefined();
  });

  it('a token hash changed in place (no count moves) is in the view at the full read, within fullRefreshMs', async () => {
    await registerTwo();
    const { view, checkEvery } = await startView();
    const replaced = hashToken('a token set by hand');
    await t.db.collection(COLLECTIONS.credentials).updateOne({ worker_id: 'w-1' }, { $set: { token_hash: replaced } });
    await checkEvery(FULL_REFRESH_MS - COUNT_CHECK_MS);
    expect(view.get('w-1')?.tokenHash).not.toBe(replaced);
    expect(reads).toBe(1);
    await checkEvery(COUNT_CHECK_MS);
    expect(view.get('w-1')?.tokenHash).toBe(replaced);
    expect(reads).toBe(2);
  });
});
