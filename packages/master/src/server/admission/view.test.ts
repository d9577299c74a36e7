import { describe, expect, test } from 'vitest';
import { AdmissionView } from './view.js';
import { FakeRegistry, ManualClock, captureLogger, testHealth } from '../test-support/fakes.js';

/** An admission version behind the port, as the admin writes set it; `failing` makes reads throw. */
class FakeVersion {
  value: string | null = null;
  reads = 0;
  failing = false;
  /** Called at each read, before it answers. */
  onRead: () => void = () => undefined;
  #next = 0;
  change(): void {
    this.value = `version-${++this.#next}`;
  }
  read(): Promise<string | null> {
    this.reads += 1;
    this.onRead();
    return this.failing ? Promise.reject(new Error('version read failed')) : Promise.resolve(this.value);
  }
}

/** The database's counts, as $collStats gives them: of the fake registry's documents and credentials. */
class FakeCounts {
  reads = 0;
  failing = false;
  constructor(private readonly registry: FakeRegistry) {}
  read(): Promise<{ workers: number; credentials: number }> {
    this.reads += 1;
    if (this.failing) return Promise.reject(new Error('count failed'));
    return Promise.resolve({ workers: this.registry.docs.size, credentials: this.registry.hashes.size });
  }
}

function setup(minIntervalMs = 0, version?: FakeVersion, withCounts = false) {
  const registry = new FakeRegistry();
  const counts = withCounts ? new FakeCounts(registry) : undefined;
  const clock = new ManualClock();
  const { health } = testHealth(clock);
  const view = new AdmissionView({
    version,
    counts,
    registry,
    credentials: registry,
    clock,
    health,
    logger: captureLogger().logger,
    missRefreshMinIntervalMs: minIntervalMs,
    countCheckMs: 60_000,
    fullRefreshMs: 600_000,
  });
  return { registry, clock, health, view, counts };
}

describe('AdmissionView', () => {
  test('loads workers and credentials in one pair of queries', async () => {
    const { registry, view } = setup();
    registry.add('w1', '10.0.0.1', 'b'.repeat(64));
    expect(view.loaded).toBe(false);
    expect(await view.refresh()).toBe(true);
    expect(view.get('w1')).toEqual({
      workerIp: '10.0.0.1',
      tokenHash: 'b'.repeat(64),
      specs: { total_cpu: 0, total_memory: 0, total_storage: 0, total_gpu: 0 },
    });
    expect(registry.calls.map((c) => c.op).sort()).toEqual(['listAdmissionView', 'loadAll']);
  });

  test('concurrent misses share one refresh that started after they arrived', async () => {
    const { registry, view } = setup();
    await view.refresh();
    registry.add('new');
    registry.hold();
    // A refresh that started before the registration...
    const stale = view.refresh();
    const waits = Array.from({ length: 50 }, () => view.fresh());
    registry.release();
    await stale;
    // ...does not count: the waiters get the next one, and all of them share it.
    await Promise.all(waits);
    expect(registry.count('listAdmissionView')).toBe(3);
    expect(view.get('new')).toBeDefined();
  });

  test('miss refreshes are spaced by missRefreshMinIntervalMs', async () => {
    const { registry, view, clock } = setup(60_000);
    await view.refresh();
    let resolved = false;
    const waiting = view.fresh().then((ok) => (resolved = ok));
    await clock.advanceAsync(59_999);
    expect(resolved).toBe(false);
    expect(registry.count('listAdmissionView')).toBe(1);
    clock.advance(60_000);
    view.close(); // wakes the waiter; a closed view refreshes no more
    await waiting;
    expect(resolved).toBe(false);
  });

  test('a failed refresh keeps the old view and reports false', async () => {
    const { registry, view, health } = setup();
    registry.add('w1');
    await view.refresh();
    registry.failing = true;
    expect(await view.refresh()).toBe(false);
    expect(await view.fresh()).toBe(false);
    expect(view.get('w1')).toBeDefined();
    expect(health.ok).toBe(false);
  });

  test('listeners get each successful refresh with its sequence number', async () => {
    const { view } = setup();
    const seen: number[] = [];
    view.onRefresh((r) => seen.push(r.seq));
    await view.refresh();
    await view.refresh();
    expect(seen).toEqual([1, 2]);
  });
});

test('each later fresh() call gets a refresh of its own (no settled promise is reused)', async () => {
  const { registry, view } = setup();
  await view.refresh();
  for (let i = 0; i < 3; i++) expect(await view.fresh()).toBe(true);
  expect(registry.count('listAdmissionView')).toBe(4);
});

test('specs queued for writing survive a refresh that read the database before the write landed', async () => {
  const { registry, view, clock } = setup();
  registry.add('w1');
  await view.refresh();
  const queued = { total_cpu: 4, total_memory: 8, total_storage: 100, total_gpu: 1 };
  view.setSpecs('w1', queued);
  await view.refresh(); // the database still holds zeros
  expect(view.get('w1')?.specs).toEqual(queued);
  // Once the database shows them the overlay is dropped; a later change there is seen.
  Object.assign(registry.docs.get('w1') ?? {}, queued);
  await view.refresh();
  Object.assign(registry.docs.get('w1') ?? {}, { total_gpu: 2 });
  await view.refresh();
  expect(view.get('w1')?.specs.total_gpu).toBe(2);
  // An overlay that never lands expires.
  view.setSpecs('w1', queued);
  clock.advance(61_000);
  await view.refresh();
  expect(view.get('w1')?.specs.total_gpu).toBe(2);
});

describe('AdmissionView.check', () => {
  test('re-reads the view only when the admission version changed', async () => {
    const version = new FakeVersion();
    const { registry, view } = setup(0, version);
    registry.add('w1');
    expect(await view.check()).toBe(true); // first check: a full read
    expect(registry.count('listAdmissionView')).toBe(1);
    for (let i = 0; i < 5; i++) expect(await view.check()).toBe(true);
    expect(registry.count('listAdmissionView')).toBe(1);
    expect(registry.count('loadAll')).toBe(1);
    expect(version.reads).toBe(6); // one with the full read, one per later check

    registry.add('w2');
    version.change();
    expect(view.get('w2')).toBeUndefined();
    expect(await view.check()).toBe(true);
    expect(registry.count('listAdmissionView')).toBe(2);
    expect(view.get('w2')).toBeDefined();
    expect(await view.check()).toBe(true);
    expect(registry.count('listAdmissionView')).toBe(2);
  });

  test('re-reads the whole view once fullRefreshMs passed, changed version or not', async () => {
    const version = new FakeVersion();
    const { registry, view, clock } = setup(0, version);
    await view.check();
    clock.advance(599_999);
    await view.check();
    expect(registry.count('listAdmissionView')).toBe(1);
    registry.add('edited-by-hand'); // a write that set no version
    clock.advance(1);
    await view.check();
    expect(registry.count('listAdmissionView')).toBe(2);
    expect(view.get('edited-by-hand')).toBeDefined();
  });

  test('a refresh asked for by a miss also records the version, so the next check reads nothing more', async () => {
    const version = new FakeVersion();
    const { registry, view } = setup(0, version);
    await view.check();
    registry.add('new');
    version.change();
    expect(await view.fresh()).toBe(true);
    expect(registry.count('listAdmissionView')).toBe(2);
    await view.check();
    expect(registry.count('listAdmissionView')).toBe(2);
  });

  test('a refresh reads the version before the view, so a change landing between the two is re-read at the next check', async () => {
    const version = new FakeVersion();
    const { registry, view, clock } = setup(0, version);
    let listsBeforeVersionRead = -1;
    version.onRead = () => {
      listsBeforeVersionRead = registry.count('listAdmissionView');
    };
    await view.refresh();
    expect(listsBeforeVersionRead).toBe(0);
    // What that order guarantees: a version set after the read is never taken for the loaded one.
    version.onRead = () => undefined;
    registry.hold();
    const refreshing = view.refresh();
    await clock.advanceAsync(0); // the version is read; the lists wait
    registry.add('late');
    version.change();
    registry.release();
    await refreshing;
    await view.check();
    expect(registry.count('listAdmissionView')).toBe(3);
  });

  test('a failed version read reports false and keeps the view', async () => {
    const version = new FakeVersion();
    const { registry, view, health } = setup(0, version);
    registry.add('w1');
    await view.check();
    version.failing = true;
    expect(await view.check()).toBe(false);
    expect(health.ok).toBe(false);
    expect(view.get('w1')).toBeDefined();
    version.failing = false;
    expect(await view.check()).toBe(true);
    expect(health.ok).toBe(true);
  });

  test('with counts: a worker or credential inserted or deleted without a new version is read at the next count check, not before', async () => {
    const version = new FakeVersion();
    const { registry, view, clock, counts } = setup(0, version, true);
    registry.add('w1');
    registry.add('w2');
    await view.check();
    // Nothing changed: count checks read nothing more, and come at most every countCheckMs.
    clock.advance(60_000);
    expect(await view.check()).toBe(true);
    expect(await view.check()).toBe(true);
    expect(counts?.reads).toBe(1);
    expect(registry.count('listAdmissionView')).toBe(1);

    registry.remove('w2'); // deleted by hand: no new version
    clock.advance(59_999);
    expect(await view.check()).toBe(true);
    expect(view.get('w2')).toBeDefined();
    clock.advance(1);
    expect(await view.check()).toBe(true);
    expect(registry.count('listAdmissionView')).toBe(2);
    expect(view.get('w2')).toBeUndefined();

    // A credential deleted by hand moves the credentials' count alone.
    registry.hashes.delete('w1');
    clock.advance(60_000);
    await view.check();
    expect(view.get('w1')?.tokenHash).toBeUndefined();
    expect(registry.count('listAdmissionView')).toBe(3);
  });

  test('with counts: a token hash changed in place (counts the same) waits for the full read', async () => {
    const version = new FakeVersion();
    const { registry, view, clock } = setup(0, version, true);
    registry.add('w1', '127.0.0.1', 'a'.repeat(64));
    await view.check();
    registry.hashes.set('w1', 'b'.repeat(64));
    for (let passed = 0; passed < 540_000; passed += 60_000) {
      clock.advance(60_000);
      await view.check();
    }
    expect(view.get('w1')?.tokenHash).toBe('a'.repeat(64));
    expect(registry.count('listAdmissionView')).toBe(1);
    clock.advance(60_000);
    await view.check();
    expect(view.get('w1')?.tokenHash).toBe('b'.repeat(64));
  });

  test('with counts: a count that cannot be read re-reads the view; a full read by a miss resets the count check', async () => {
    const version = new FakeVersion();
    const { registry, view, clock, counts } = setup(0, version, true);
    registry.add('w1');
    await view.check();
    if (counts !== undefined) counts.failing = true;
    clock.advance(60_000);
    expect(await view.check()).toBe(true);
    expect(registry.count('listAdmissionView')).toBe(2);
    if (counts !== undefined) counts.failing = false;
    clock.advance(30_000);
    expect(await view.fresh()).toBe(true); // a miss: a full read, with its counts
    clock.advance(59_999);
    await view.check();
    expect(counts?.reads).toBe(1);
    expect(registry.count('listAdmissionView')).toBe(3);
  });

  test('without a version every check re-reads the view', async () => {
    const { registry, view } = setup();
    await view.check();
    await view.check();
    expect(registry.count('listAdmissionView')).toBe(2);
  });
});
