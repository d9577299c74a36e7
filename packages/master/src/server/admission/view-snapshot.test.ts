import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../../../test/support/database.js';
import { createAdmissionSnapshotStore, ADMISSION_SNAPSHOT_ID } from '../../registry/admission-snapshot.js';
import { createAdmissionCounts } from '../../registry/admission-counts.js';
import { createAdmissionVersion } from '../../registry/admission-version.js';
import { COLLECTIONS } from '../../registry/collections.js';
import { createCredentialStore } from '../../registry/credential-store.js';
import { hashToken } from '../../registry/token.js';
import { createWorkerRegistry, type WorkerRegistry } from '../../registry/worker-registry.js';
import { ManualClock, captureLogger, testHealth } from '../test-support/fakes.js';
import { AdmissionView } from './view.js';

/** The dev database behind a restarted master's view: what it reads, and from where. */
let t: TestDatabase;
let registry: WorkerRegistry;
let reads: string[];

beforeEach(async () => {
  t = await openTestDatabase('view_snapshot');
  registry = createWorkerRegistry(t.db);
  await registry.ensureCollections();
  reads = [];
});

afterEach(async () => {
  await t.close();
});

/** A master's view on the test database; `reads` records each full read of the registry and of the credentials. */
function startView(clock = new ManualClock()) {
  const credentials = createCredentialStore(t.db);
  const view = new AdmissionView({
    registry: { listAdmissionView: () => (reads.push('registry'), registry.listAdmissionView()) },
    credentials: { loadAll: () => (reads.push('credentials'), credentials.loadAll()) },
    clock,
    health: testHealth(clock).health,
    logger: captureLogger().logger,
    missRefreshMinIntervalMs: 0,
    version: createAdmissionVersion(t.db),
    counts: createAdmissionCounts(t.db),
    countCheckMs: 60_000,
    fullRefreshMs: 600_000,
    snapshot: createAdmissionSnapshotStore(t.db),
  });
  return { view, clock, credentials };
}

async function loaded(view: AdmissionView): Promise<AdmissionView> {
  expect(await view.refresh()).toBe(true);
  await view.snapshotWritten();
  return view;
}

async function registerTwo(): Promise<string> {
  await registry.registerWorker('w-1', '10.0.0.1');
  await registry.registerWorker('w-2', '10.0.0.2');
  await registry.updateSpecs([{ worker_id: 'w-2', total_cpu: 16, total_memory: 62.7, total_storage: 960.2, total_gpu: 2 }], new Date());
  const token = await createCredentialStore(t.db).issue('w-1');
  return hashToken(token);
}

describe('admission view kept between runs (dev database)', () => {
  it('a restarted master admits from the stored view, reading neither the registry nor the credentials', async () => {
    const hash = await registerTwo();
    const first = await loaded(startView().view);
    expect(first.fromSnapshot).toBe(false);
    expect(reads.sort()).toEqual(['credentials', 'registry']);

    reads = [];
    const restarted = await loaded(startView().view);
    expect(reads).toEqual([]);
    expect(restarted.fromSnapshot).toBe(true);
    expect(restarted.size).toBe(2);
    for (const id of ['w-1', 'w-2']) expect(restarted.get(id)).toEqual(first.get(id));
    expect(restarted.get('w-1')?.tokenHash).toBe(hash);
    expect(restarted.get('w-2')?.tokenHash).toBeUndefined();
    expect(restarted.get('w-2')?.specs).toEqual({ total_cpu: 16, total_memory: 62.7, total_storage: 960.2, total_gpu: 2 });
  });

  it('an admin write since the view was stored (a new version) makes the restarted master read the registry', async () => {
    await registerTwo();
    await loaded(startView().view);
    await registry.registerWorker('w-3', '10.0.0.3');
    await createCredentialStore(t.db).rotate('w-2');

    reads = [];
    const restarted = await loaded(startView().view);
    expect(restarted.fromSnapshot).toBe(false);
    expect(reads.sort()).toEqual(['credentials', 'registry']);
    expect(restarted.get('w-3')?.workerIp).toBe('10.0.0.3');
    expect(restarted.get('w-2')?.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    // ...and stored what it read: the next restart takes it.
    reads = [];
    expect((await loaded(startView().view)).get('w-3')?.workerIp).toBe('10.0.0.3');
    expect(reads).toEqual([]);
  });

  it('stores what the database holds, never specs only queued for writing (lost with a killed master)', async () => {
    await registerTwo();
    const { view } = startView();
    await loaded(view);
    view.setSpecs('w-1', { total_cpu: 64, total_memory: 1, total_storage: 1, total_gpu: 8 });
    // A later full read (another change) stores the view again, with the overlay applied in memory only.
    await registry.registerWorker('w-3', '10.0.0.3');
    await loaded(view);
    expect(view.get('w-1')?.specs.total_cpu).toBe(64);

    const restarted = await loaded(startView().view);
    expect(restarted.fromSnapshot).toBe(true);
    expect(restarted.get('w-3')).toBeDefined();
    expect(restarted.get('w-1')?.specs).toEqual({ total_cpu: 0, total_memory: 0, total_storage: 0, total_gpu: 0 });
  });

  it('a clean close stores the view with the writes that landed, so the next master does not write them again', async () => {
    await registerTwo();
    const { view } = startView();
    await loaded(view);
    const upgraded = { total_cpu: 64, total_memory: 1, total_storage: 1, total_gpu: 8 };
    view.setSpecs('w-1', upgraded);
    await registry.updateSpecs([{ worker_id: 'w-1', ...upgraded }], new Date());
    view.close();
    await view.storeAtClose();

    reads = [];
    const restarted = await loaded(startView().view);
    expect(reads).toEqual([]);
    expect(restarted.get('w-1')?.specs).toEqual(upgraded);
  });

  it('a full read that finds what is stored writes nothing', async () => {
    await registerTwo();
    await loaded(startView().view);
    const snapshots = t.db.collection(COLLECTIONS.admissionSnapshot);
    const before = await snapshots.findOne({ _id: ADMISSION_SNAPSHOT_ID as never });
    await snapshots.updateOne({ _id: ADMISSION_SNAPSHOT_ID as never }, { $set: { written_at: new Date(0) } });
    const { view } = startView();
    await loaded(view);
    await loaded(view); // a second read, now a full one: the same view
    expect(view.fromSnapshot).toBe(false);
    const after = await snapshots.findOne({ _id: ADMISSION_SNAPSHOT_ID as never });
    expect(after?.written_at).toEqual(new Date(0));
    expect(after?.entries).toBe(before?.entries);
  });

  it('a hand edit of the registry (no new version) is in the view at the first count check after a restart (the stored view has no counts)', async () => {
    await registerTwo();
    await loaded(startView().view);
    await t.db.collection(COLLECTIONS.workers).updateOne({ worker_id: 'w-1' }, { $set: { worker_ip: '10.9.9.9' } });

    const { view, clock } = startView();
    await loaded(view);
    expect(view.get('w-1')?.workerIp).toBe('10.0.0.1');
    clock.monoMs += 59_000;
    expect(await view.check()).toBe(true);
    expect(view.get('w-1')?.workerIp).toBe('10.0.0.1');
    clock.monoMs += 1_000;
    expect(await view.check()).toBe(true);
    expect(view.fromSnapshot).toBe(false);
    expect(view.get('w-1')?.workerIp).toBe('10.9.9.9');
  });

  it('a stored view this build cannot read is not used: the registry is read and the view stored again', async () => {
    await registerTwo();
    await loaded(startView().view);
    const snapshots = t.db.collection(COLLECTIONS.admissionSnapshot);
    await snapshots.updateOne({ _id: ADMISSION_SNAPSHOT_ID as never }, { $set: { entries: '[["w-1","10.0.0.1",null,0,0,0]]', count: 1 } });

    reads = [];
    const restarted = await loaded(startView().view);
    expect(restarted.fromSnapshot).toBe(false);
    expect(restarted.size).toBe(2);
    expect(reads.sort()).toEqual(['credentials', 'registry']);
    expect(JSON.parse(String((await snapshots.findOne({ _id: ADMISSION_SNAPSHOT_ID as never }))?.entries))).toHaveLength(2);
  });
});
