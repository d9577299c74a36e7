import { MongoClient } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../../test/support/database.js';
import { COLLECTIONS } from './collections.js';
import { newWorkerDocument } from './document.js';
import { DEFAULT_MAX_UPDATES_PER_COMMAND, createWorkerRegistry, type WorkerRegistry } from './worker-registry.js';

/**
 * The master's paths must cost one database command each, whatever the number
 * of workers, so load does not grow with the fleet. The driver's command
 * monitoring shows every command it sends; 150 workers is more than a default
 * first batch (101), so a find that needed a getMore would show here.
 */
const FLEET = 150;
const ids = Array.from({ length: FLEET }, (_, i) => `worker-${String(i).padStart(3, '0')}`);
const NOW = new Date('2025-10-15T10:35:00Z');

let t: TestDatabase;
let monitored: MongoClient;
let registry: WorkerRegistry;
let commands: string[];

beforeEach(async () => {
  t = await openTestDatabase('commands');
  await createWorkerRegistry(t.db).ensureCollections();
  await t.db
    .collection(COLLECTIONS.workers)
    .insertMany(ids.map((id) => ({ ...newWorkerDocument(id, '10.0.0.1', NOW), is_active: true })));
  monitored = new MongoClient(t.uri, { monitorCommands: true });
  await monitored.connect();
  commands = [];
  monitored.on('commandStarted', (event) => commands.push(event.commandName));
  registry = createWorkerRegistry(monitored.db(t.name), { now: () => NOW });
});

afterEach(async () => {
  await monitored.close();
  await t.close();
});

async function commandsOf(operation: () => Promise<unknown>): Promise<string[]> {
  commands = [];
  await operation();
  return [...commands];
}

describe('one command each', () => {
  it('recordHeartbeats: one update for the whole fleet', async () => {
    expect(await commandsOf(() => registry.recordHeartbeats(ids, 1697371305, NOW))).toEqual(['update']);
  });

  it('markInactive: one update', async () => {
    expect(await commandsOf(() => registry.markInactive(ids.slice(0, 100), NOW))).toEqual(['update']);
  });

  it('markInactive with a last written second per worker, ten distinct: still one update', async () => {
    const lastWritten = new Map(ids.slice(0, 100).map((id, i) => [id, 1697371300 + (i % 10)]));
    expect(await commandsOf(() => registry.markInactive(ids.slice(0, 100), NOW, lastWritten))).toEqual(['update']);
  });

  it('sweepStale: one update', async () => {
    expect(await commandsOf(() => registry.sweepStale(1697371305, NOW))).toEqual(['update']);
  });

  /** Each worker with specs of its own (cores 8, 9, ...), so no two entries share a statement. */
  const specsFor = (workerIds: string[]) =>
    workerIds.map((id, i) => ({ worker_id: id, total_cpu: 8 + i, total_memory: 16, total_storage: 500, total_gpu: 0 }));

  it('updateSpecs: one update for up to maxUpdatesPerCommand entries', async () => {
    const entries = specsFor(ids.slice(0, DEFAULT_MAX_UPDATES_PER_COMMAND));
    expect(await commandsOf(() => registry.updateSpecs(entries, NOW))).toEqual(['update']);
  });

  it('updateSpecs: one update per chunk beyond that (FerretDB hangs on 100 statements in one command)', async () => {
    const commandsSent = await commandsOf(() => registry.updateSpecs(specsFor(ids), NOW));
    expect(commandsSent).toEqual(Array(Math.ceil(FLEET / DEFAULT_MAX_UPDATES_PER_COMMAND)).fill('update'));
    expect((await registry.findWorkers({ minCpu: 7 })).length).toBe(FLEET);
  });

  it('updateSpecs: workers with the same specs share one statement (updateMany $in)', async () => {
    const statements: number[] = [];
    monitored.on('commandStarted', (event) => {
      if (event.commandName === 'update') statements.push((event.command.updates as unknown[]).length);
    });
    const alike = ids.map((id) => ({ worker_id: id, total_cpu: 8, total_memory: 16, total_storage: 500, total_gpu: 0 }));
    const odd = { worker_id: ids[0] ?? '', total_cpu: 64, total_memory: 512, total_storage: 4000, total_gpu: 8 };
    // The odd one out is listed last for ids[0]: its last entry wins.
    expect(await commandsOf(() => registry.updateSpecs([...alike, odd], NOW))).toEqual(['update']);
    expect(statements).toEqual([2]);
    expect((await registry.findWorkers({ minCpu: 7 })).length).toBe(FLEET);
    expect(await registry.findGpuWorkers()).toEqual([expect.objectContaining({ worker_id: ids[0], total_gpu: 8, total_cpu: 64 })]);
  });

  it('updateSpecs: maxUpdatesPerCommand sets the chunk size', async () => {
    const wide = createWorkerRegistry(monitored.db(t.name), { maxUpdatesPerCommand: 60 });
    expect(await commandsOf(() => wide.updateSpecs(specsFor(ids.slice(0, 60)), NOW))).toEqual(['update']);
  });

  it('existingWorkerIds: one find, no getMore', async () => {
    let found = new Set<string>();
    expect(await commandsOf(async () => (found = await registry.existingWorkerIds([...ids, 'unknown'])))).toEqual(['find']);
    expect(found.size).toBe(FLEET);
  });

  it('listAdmissionView: one find, no getMore', async () => {
    let view: unknown[] = [];
    expect(await commandsOf(async () => (view = await registry.listAdmissionView()))).toEqual(['find']);
    expect(view).toHaveLength(FLEET);
  });

  // One batch, so no getMore can meet a cursor FerretDB closed with the connection that opened it (see find()).
  it.each([
    ['getAllWorkers', () => registry.getAllWorkers()],
    ['findActive', () => registry.findActive()],
    ['findByIp', () => registry.findByIp('10.0.0.1')],
    ['findStale', () => registry.findStale(1697371305)],
    ['findByMinResources', () => registry.findByMinResources({ cpu: -1 })],
    ['findWorkers', () => registry.findWorkers({ active: true, ip: '10.0.0.1' })],
  ] as const)('%s: one find, no getMore, the whole fleet', async (_name, operation) => {
    let found: unknown[] = [];
    expect(await commandsOf(async () => (found = await operation()))).toEqual(['find']);
    expect(found).toHaveLength(FLEET);
  });

  it('no command at all for empty batches', async () => {
    expect(
      await commandsOf(async () => {
        await registry.recordHeartbeats([], 1, NOW);
        await registry.markInactive([], NOW);
        await registry.updateSpecs([], NOW);
        await registry.existingWorkerIds([]);
      }),
    ).toEqual([]);
  });
});

describe("the contract's single-worker operations", () => {
  it.each([
    ['getWorker', 'find', () => registry.getWorker('worker-001')],
    ['updateHeartbeat', 'update', () => registry.updateHeartbeat('worker-001', 1697371305)],
    ['workerExists (countDocuments)', 'aggregate', () => registry.workerExists('worker-001')],
  ] as const)('%s is one %s', async (_name, command, operation) => {
    expect(await commandsOf(operation)).toEqual([command]);
  });

  it('unregisterWorker is one delete, then the admission version moves (one update by _id), then its event (one insert)', async () => {
    expect(await commandsOf(() => registry.unregisterWorker('worker-001'))).toEqual(['delete', 'update', 'insert']);
  });
});
