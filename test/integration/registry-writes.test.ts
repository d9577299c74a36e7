import { Double, Long } from 'mongodb';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { openHarness, waitFor, type Harness } from './helpers/harness.js';
import { RawAgent, SPECS } from './helpers/raw-agent.js';

let h: Harness;
beforeEach(async () => {
  h = await openHarness();
});
afterEach(async () => {
  await h.close();
});

test('admission writes specs, is_active, last_heartbeat (Int64, master clock) and updated_at', async () => {
  const token = await h.register('w1');
  const registered = await h.worker('w1');
  const m = await h.startMaster();
  const before = Math.floor(Date.now() / 1000);
  const agent = await RawAgent.admitted(m.url, { workerId: 'w1', token }, { total_cpu: 12, total_memory: 31.2, total_storage: 960, total_gpu: 2 });
  const worker = await waitFor('active', async () => {
    const w = await h.worker('w1');
    return w?.is_active === true && w.total_cpu === 12 ? w : undefined;
  });
  expect(worker).toMatchObject({ total_cpu: 12, total_memory: 31.2, total_storage: 960, total_gpu: 2, worker_ip: '127.0.0.1' });
  expect(worker.last_heartbeat).toBeGreaterThanOrEqual(before);
  expect(worker.last_heartbeat).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  expect(worker.updated_at.getTime()).toBeGreaterThan(registered?.updated_at.getTime() ?? Infinity);
  expect(worker.registered_at).toEqual(registered?.registered_at);
  // BSON types of the contract: Int64 heartbeat, doubles for specs.
  const raw = await h.db.collection('WORKER_REGISTRY').findOne({ worker_id: 'w1' }, { promoteLongs: false, promoteValues: false });
  expect(raw?.last_heartbeat).toBeInstanceOf(Long);
  expect(raw?.total_cpu).toBeInstanceOf(Double);
  expect(raw?.is_active).toBe(true);
  await agent.close();
});

test('specs are written only when they differ from what the registry holds', async () => {
  const token = await h.register('w1');
  const m = await h.startMaster();
  const specWrites = (mark: number) => m.commands.count(mark, 'update', 'specs');

  let mark = m.commands.mark();
  let agent = await RawAgent.admitted(m.url, { workerId: 'w1', token });
  await waitFor('specs written', async () => (await h.worker('w1'))?.total_cpu === SPECS.total_cpu);
  expect(specWrites(mark)).toBe(1);
  await agent.close();

  // Same specs on reconnect (also after a view refresh): at most the hello's conditional write, which matches nothing.
  for (let i = 0; i < 3; i++) {
    mark = m.commands.mark();
    agent = await RawAgent.admitted(m.url, { workerId: 'w1', token });
    await waitFor('heartbeat written', () => m.commands.count(mark, 'update', 'heartbeat') > 0);
    // A cycle writes heartbeats before specs: wait for this hello's spec write too, so that it cannot
    // start inside the next round's window (under load it did, and was counted twice there).
    await waitFor('the hello spec write', () => specWrites(mark) >= 1);
    expect(specWrites(mark)).toBe(1);
    await agent.close();
  }

  // Changed specs in a later `specs` message: one write; the same again: none.
  mark = m.commands.mark();
  agent = await RawAgent.admitted(m.url, { workerId: 'w1', token });
  agent.send({ type: 'specs', specs: { ...SPECS, total_gpu: 4 } });
  await waitFor('new specs', async () => (await h.worker('w1'))?.total_gpu === 4);
  agent.send({ type: 'specs', specs: { ...SPECS, total_gpu: 4 } });
  await agent.heartbeat();
  const heartbeatsMark = m.commands.mark();
  await waitFor('next flush', () => m.commands.count(heartbeatsMark, 'update', 'heartbeat') > 0);
  expect(specWrites(mark)).toBe(1);
  await agent.close();
});

test('a hand-edited spec is corrected at the next hello, whatever the master\'s cache says', async () => {
  const token = await h.register('w-hand');
  const m = await h.startMaster();
  let agent = await RawAgent.admitted(m.url, { workerId: 'w-hand', token });
  await waitFor('specs written', async () => (await h.worker('w-hand'))?.total_cpu === SPECS.total_cpu);
  await agent.close();
  // As the contract's snippet: updateOne({worker_id}, {$set: {total_cpu: 64}}); bumps no version, so the cache keeps the old specs.
  await h.db.collection('WORKER_REGISTRY').updateOne({ worker_id: 'w-hand' }, { $set: { total_cpu: 64 } });
  agent = await RawAgent.admitted(m.url, { workerId: 'w-hand', token });
  await waitFor('specs corrected', async () => (await h.worker('w-hand'))?.total_cpu === SPECS.total_cpu, { timeoutMs: 3_000 });
  await agent.close();
});

test('nothing on the agent path upserts: a worker deleted while its heartbeat is pending stays deleted', async () => {
  const token = await h.register('w1');
  const m = await h.startMaster({ flushIntervalMs: 300 });
  const agent = await RawAgent.admitted(m.url, { workerId: 'w1', token });
  const documents = h.db.collection('WORKER_REGISTRY');
  const before = await documents.countDocuments({});
  await documents.deleteOne({ worker_id: 'w1' });
  await agent.heartbeat();
  const closed = await agent.closed;
  expect(closed.code).toBe(4404);
  expect(await documents.countDocuments({ worker_id: 'w1' })).toBe(0);
  // Every document, not only those with the id: an upsert on an $in filter creates one without worker_id.
  expect(await documents.countDocuments({})).toBe(before - 1);
});
