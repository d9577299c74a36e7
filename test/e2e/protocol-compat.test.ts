import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { MongoClient, type Collection, type Document } from 'mongodb';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { ROOT } from '../cli/run-cli.js';
import { FAKE_SPECS, agentEvents, agentUrl, registerWorker, scenarioDatabase, startAgent, startMaster, type DbTarget } from './support/cluster.js';
import { ProcSet } from './support/processes.js';

/**
 * No flag day, shown with real processes of the previous release: the agent
 * and master of commit 4f532d7 (release 0.1, protocol version 1), built from
 * this repository's history into .cache/old-release by scripts/old-release.sh
 * (cached by commit), against this build's (protocol version 2). What each
 * mix must do is the README's "Upgrading" table.
 */
const OLD_COMMIT = '4f532d7';
const procs = new ProcSet();
let oldRoot: string;
let target: DbTarget;
let client: MongoClient;
let workers: Collection<Document>;

beforeAll(() => {
  oldRoot = execFileSync('bash', ['scripts/old-release.sh', OLD_COMMIT], { cwd: ROOT, encoding: 'utf8' }).trim();
  target = { uri: inject('mongodbUri'), database: scenarioDatabase('compat') };
  client = new MongoClient(target.uri);
  workers = client.db(target.database).collection('WORKER_REGISTRY');
}, 300_000);

afterAll(async () => {
  await procs.killAll();
  await client?.close();
}, 60_000);

/** Resolves once the worker's document shows two heartbeats written at different seconds. */
async function heartbeatsWritten(workerId: string): Promise<Document> {
  let first: number | undefined;
  const deadline = performance.now() + 15_000;
  for (;;) {
    const doc = await workers.findOne({ worker_id: workerId });
    const beat = Number(doc?.last_heartbeat ?? 0);
    if (doc !== null && doc.is_active === true && beat > 0) {
      first ??= beat;
      if (beat > first) return doc;
    }
    if (performance.now() > deadline) throw new Error(`no heartbeats written for ${workerId}\n${procs.diagnostics()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.sequential('protocol compatibility with release 0.1 (commit 4f532d7)', () => {
  test('old agent → new master: admitted in version 1, heartbeats written, no hardware field', async () => {
    const token = await registerWorker(target, 'old-agent');
    const master = await startMaster(procs, target, 'new-master');
    const agent = startAgent(procs, 'old-agent', { root: oldRoot, masterUrl: agentUrl(master), workerId: 'old-agent', token, specs: FAKE_SPECS });
    await agent.waitForRecord('admitted', (r) => r.event === 'admitted', { timeoutMs: 15_000 });
    const doc = await heartbeatsWritten('old-agent');
    expect(doc).toMatchObject({ total_cpu: FAKE_SPECS.total_cpu, total_gpu: FAKE_SPECS.total_gpu, is_active: true });
    expect(doc).not.toHaveProperty('hardware');
    const admitted = master.proc.records().find((r) => r.rec.msg === 'admitted' && r.rec.worker_id === 'old-agent');
    expect(admitted?.rec).toMatchObject({ protocol_version: 1, hardware_changed: false });
    await agent.kill();
    await master.proc.kill();
  });

  test('new agent → old master: refused 426 for version 2, falls back to version 1 at once, admitted, heartbeats written, no inventory', async () => {
    const token = await registerWorker(target, 'new-agent');
    const master = await startMaster(procs, target, 'old-master', { root: oldRoot });
    // The real probe: this agent has an inventory, and must not send it to a master of version 1.
    const agent = startAgent(procs, 'new-agent', { masterUrl: agentUrl(master), workerId: 'new-agent', token });
    const fallback = await agent.waitForRecord('protocol-fallback', (r) => r.event === 'protocol-fallback', { timeoutMs: 30_000 });
    expect(fallback.rec).toMatchObject({ from: 2, to: 1, level: 30 });
    const admitted = await agent.waitForRecord('admitted', (r) => r.event === 'admitted', { timeoutMs: 15_000 });
    // At once: no backoff between the refusal and the version 1 attempt.
    expect(admitted.atMs - fallback.atMs).toBeLessThan(2_000);
    expect(agentEvents(agent, 'refused')).toEqual([]);
    const doc = await heartbeatsWritten('new-agent');
    expect(doc).not.toHaveProperty('hardware');
    const refusals = master.proc.records().filter((r) => r.rec.status === 426);
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    await agent.kill();
    await master.proc.kill();
  });

  test('the same new agent → new master: version 2, its inventory in the document', async () => {
    const token = await registerWorker(target, 'new-agent-2');
    const master = await startMaster(procs, target, 'new-master-2');
    const agent = startAgent(procs, 'new-agent-2', { masterUrl: agentUrl(master), workerId: 'new-agent-2', token });
    await agent.waitForRecord('admitted', (r) => r.event === 'admitted', { timeoutMs: 30_000 });
    expect(agentEvents(agent, 'protocol-fallback')).toEqual([]);
    const deadline = performance.now() + 15_000;
    let doc: Document | null = null;
    while (performance.now() < deadline) {
      doc = await workers.findOne({ worker_id: 'new-agent-2' });
      if (doc?.hardware !== undefined) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((doc?.hardware as { host: { arch: string; kernel: string } } | undefined)?.host).toMatchObject({ arch: os.machine(), kernel: os.release() });
    await agent.kill();
    await master.proc.kill();
  });
});
