import { connect } from 'node:net';
import { PROTOCOL_VERSION } from '@cluster/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FAST, openHarness, waitFor, type Harness, type RunningMaster } from './helpers/harness.js';
import { RawAgent, isRefused } from './helpers/raw-agent.js';

/**
 * Admission at the upgrade: each refusal is an HTTP status with a short
 * reason, nothing is written to the registry, and the refusal is counted.
 */
let h: Harness;
let m: RunningMaster;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  h = await openHarness();
  tokens.w1 = await h.register('w1', '127.0.0.1');
  tokens.w2 = await h.register('w2', '127.0.0.1');
  tokens.far = await h.register('far', '127.0.0.2');
  tokens.named = await h.register('named', 'localhost');
  m = await h.startMaster({ checkSourceAddress: true });
});
afterAll(async () => {
  await h.close();
});

async function snapshot(): Promise<unknown[]> {
  return h.db.collection('WORKER_REGISTRY').find({}, { projection: { _id: 0 } }).sort({ worker_id: 1 }).toArray();
}

/** An upgrade request written by hand (headers undefined are left out); resolves with what the master answered. */
function rawUpgrade(fields: Record<string, string | undefined>, workerId: string): Promise<string> {
  const { method = 'GET', ...headers } = fields;
  const lines = Object.entries({
    host: '127.0.0.1',
    connection: 'Upgrade',
    upgrade: 'websocket',
    'x-protocol-version': String(PROTOCOL_VERSION),
    'x-worker-id': workerId,
    authorization: `Bearer ${tokens.w1 ?? ''}`,
    ...headers,
  }).flatMap(([k, v]) => (v === undefined ? [] : [`${k}: ${v}`]));
  return new Promise((resolve) => {
    const socket = connect(m.port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString('latin1')));
    socket.on('close', () => resolve(data));
    socket.on('error', () => undefined);
    socket.write(`${method} /agent HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
  });
}

async function refusalMetric(reason: string): Promise<number> {
  const values = (await m.master.metrics.refusals.get()).values;
  return values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('refusals', () => {
  test('each is its HTTP status with a short reason, writes nothing and is counted', async () => {
    const before = await snapshot();
    const mark = m.commands.mark();
    const cases: [string, Parameters<typeof RawAgent.refused>[1], number, string][] = [
      ['unsupported_version', { workerId: 'w1', token: tokens.w1, headers: { 'x-protocol-version': String(PROTOCOL_VERSION + 1) } }, 426, 'protocol version'],
      ['unsupported_version', { workerId: 'w1', token: tokens.w1, headers: { 'x-protocol-version': undefined } }, 426, 'protocol version'],
      ['bad_worker_id', { workerId: '$bad id', token: tokens.w1 }, 400, 'worker id'],
      ['bad_worker_id', { token: tokens.w1 }, 400, 'worker id'],
      // An unknown id and a wrong token read alike on the wire (the metric and the log tell them apart).
      ['unknown_worker', { workerId: 'nobody', token: tokens.w1 }, 401, 'unknown worker or invalid token'],
      ['unauthorized', { workerId: 'w1' }, 401, 'token'],
      ['unauthorized', { workerId: 'w1', token: 'x'.repeat(43) }, 401, 'unknown worker or invalid token'],
      ['unauthorized', { workerId: 'w1', token: tokens.w2 }, 401, 'unknown worker or invalid token'],
      ['unauthorized', { workerId: 'w1', headers: { authorization: 'Basic dXNlcjpwYXNz' } }, 401, 'token'],
      ['forbidden', { workerId: 'far', token: tokens.far }, 403, 'source address'],
      ['bad_path', { workerId: 'w1', token: tokens.w1, path: '/elsewhere' }, 404, 'unknown path'],
    ];
    for (const [metric, options, status, text] of cases) {
      const before = await refusalMetric(metric);
      const refusal = await RawAgent.refused(m.url, options);
      expect(refusal.status, JSON.stringify(options)).toBe(status);
      expect(refusal.body).toContain(text);
      expect(await refusalMetric(metric)).toBe(before + 1);
    }
    expect(await snapshot()).toEqual(before);
    // Data-dependent refusals may read (bounded), but no refusal writes.
    for (const name of ['update', 'insert', 'delete', 'findAndModify']) expect(m.commands.count(mark, name)).toBe(0);
    const refusedLogs = m.logs.filter((l) => l.msg === 'refused');
    expect(refusedLogs.length).toBeGreaterThanOrEqual(cases.length);
    expect(refusedLogs.find((l) => l.status === 403)).toMatchObject({ worker_id: 'far', address: '127.0.0.1' });
    expect(refusedLogs.find((l) => l.status === 400 && l.worker_id === undefined)).toMatchObject({ worker_id_given: '$bad id' });
    for (const token of Object.values(tokens)) expect(m.rawLogs.join('')).not.toContain(token);
  });

  test('a handshake ws would refuse is refused before admission: logged, counted, never admitted', async () => {
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const cases: [string, Record<string, string | undefined>, number][] = [
      ['no Sec-WebSocket-Key', { 'sec-websocket-key': undefined }, 400],
      ['Sec-WebSocket-Version 7', { 'sec-websocket-version': '7' }, 400],
      ['POST', { method: 'POST' }, 405],
    ];
    const admissions = (await m.master.metrics.admissions.get()).values[0]?.value ?? 0;
    for (const [name, change, status] of cases) {
      const logMark = m.logs.length;
      const before = await refusalMetric('bad_handshake');
      // An id the view does not hold: admission would answer 401 (after a read); the handshake check comes first.
      const answer = await rawUpgrade({ method: 'GET', 'sec-websocket-key': key, 'sec-websocket-version': '13', ...change }, 'unknown-yet');
      expect(answer, name).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(await refusalMetric('bad_handshake')).toBe(before + 1);
      expect(m.logs.slice(logMark)).toContainEqual(expect.objectContaining({ msg: 'refused', status, address: '127.0.0.1', worker_id_given: 'unknown-yet' }));
    }
    expect((await m.master.metrics.admissions.get()).values[0]?.value ?? 0).toBe(admissions);
  });

  test('a registered worker without a stored credential is refused 401 whatever token it shows; nothing written', async () => {
    // A hand-made registration (no credential issued) and a worker whose credential was deleted afterwards.
    await h.registry.registerWorker('bare', '127.0.0.1');
    const removed = await h.register('uncredentialed', '127.0.0.1');
    await h.credentials.remove('uncredentialed');
    const before = await snapshot();
    const refusalsBefore = await refusalMetric('unauthorized');
    for (const [workerId, token] of [
      ['bare', tokens.w1],
      ['uncredentialed', removed],
      ['uncredentialed', tokens.w2],
    ] as const) {
      expect((await RawAgent.refused(m.url, { workerId, token }))?.status, `${workerId} with a token`).toBe(401);
    }
    expect(await refusalMetric('unauthorized')).toBe(refusalsBefore + 3);
    expect(await snapshot()).toEqual(before);
  });

  test('an unknown-id flood costs a bounded number of reads, not one per request', async () => {
    const mark = m.commands.mark();
    const from = performance.now();
    const ids = Array.from({ length: 200 }, (_, i) => `ghost-${i % 20}`);
    const results = await Promise.all(ids.map((id) => RawAgent.refused(m.url, { workerId: id, token: tokens.w1 })));
    const elapsedMs = performance.now() - from;
    expect(results.every((r) => r.status === 401)).toBe(true);
    // Bounded by time, not by requests: two finds per miss refresh, at most one
    // refresh per missRefreshMinIntervalMs, plus the periodic version read and
    // a possible full re-read (three finds) per viewRefreshMs. One read per
    // request would be 200 or more.
    const missRefreshes = 1 + Math.ceil(elapsedMs / (FAST.missRefreshMinIntervalMs ?? 0));
    const periodicChecks = 1 + Math.ceil(elapsedMs / (FAST.viewRefreshMs ?? 0));
    const bound = 2 * missRefreshes + 3 * periodicChecks;
    expect(bound, `bound for a flood of ${Math.round(elapsedMs)} ms`).toBeLessThan(100);
    expect(m.commands.count(mark, 'find')).toBeLessThanOrEqual(bound);
  });
});

describe('admitted', () => {
  test('the right worker, token and address', async () => {
    const agent = await RawAgent.admitted(m.url, { workerId: 'w1', token: tokens.w1 });
    expect(await agent.heartbeat()).toBe(1);
    await agent.close();
  });

  test('the address check: a worker registered at 127.0.0.2 connecting from there', async () => {
    const agent = await RawAgent.admitted(m.url, { workerId: 'far', token: tokens.far, localAddress: '127.0.0.2' });
    await agent.close();
  });

  test('a host name worker_ip matches its resolved addresses', async () => {
    const agent = await RawAgent.admitted(m.url, { workerId: 'named', token: tokens.named });
    await agent.close();
  });

  test('a worker registered a moment ago is admitted at once (no wait for the periodic refresh)', async () => {
    const slow = await h.startMaster({ checkSourceAddress: true, viewRefreshMs: 5_000 });
    const token = await h.register('fresh', '127.0.0.1');
    const agent = await RawAgent.admitted(slow.url, { workerId: 'fresh', token });
    await agent.close();
    await slow.close();
  });

  test('with the address check off, any address', async () => {
    const open = await h.startMaster({ checkSourceAddress: false });
    const agent = await RawAgent.admitted(open.url, { workerId: 'far', token: tokens.far });
    await agent.close();
    await open.close();
  });
});

describe('a credential belongs to one registration', () => {
  test('a worker deleted and inserted again by hand (as the contract’s shell snippets do) needs a new token', async () => {
    // Hand edits bump no admission version: the master sees them at its next full re-read (here 200 ms).
    const hand = await h.startMaster({ checkSourceAddress: true, viewRefreshMs: 100, viewFullRefreshMs: 200 });
    const token = await h.register('again', '127.0.0.1');
    const workers = h.db.collection('WORKER_REGISTRY');
    const first = await RawAgent.admitted(hand.url, { workerId: 'again', token });
    await first.close();
    const doc = await workers.findOne({ worker_id: 'again' }, { projection: { _id: 0 } });
    await workers.deleteOne({ worker_id: 'again' });
    await workers.insertOne({ ...doc, registered_at: new Date() });
    // Admitted on the old registration until that re-read; refused from it on (a fixed 600 ms wait before).
    const refused = await waitFor('the old token refused once the view is re-read', async () => {
      const result = await RawAgent.connect(hand.url, { workerId: 'again', token });
      if (isRefused(result)) return result;
      result.ws.terminate();
      return undefined;
    });
    expect(refused.status).toBe(401);
    const rotated = await h.credentials.rotate('again');
    const agent = await RawAgent.admitted(hand.url, { workerId: 'again', token: rotated });
    await agent.close();
    await hand.close();
  });

  test('removeOrphans deletes the credentials whose document is gone or was inserted anew, and no other', async () => {
    await h.register('gone', '127.0.0.1');
    await h.register('reborn', '127.0.0.1');
    await h.register('kept', '127.0.0.1');
    const workers = h.db.collection('WORKER_REGISTRY');
    await workers.deleteOne({ worker_id: 'gone' });
    const doc = await workers.findOne({ worker_id: 'reborn' }, { projection: { _id: 0 } });
    await workers.deleteOne({ worker_id: 'reborn' });
    await workers.insertOne({ ...doc });
    expect(await h.credentials.removeOrphans()).toBe(2);
    expect(await h.credentials.get('gone')).toBeNull();
    expect(await h.credentials.get('reborn')).toBeNull();
    expect(await h.credentials.get('kept')).not.toBeNull();
  });
});
