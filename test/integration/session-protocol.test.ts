import { CloseCode, DEFAULTS, PROTOCOL_VERSION } from '@cluster/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openHarness, type Harness, type RunningMaster } from './helpers/harness.js';
import { RawAgent, SPECS } from './helpers/raw-agent.js';

/** The session after the upgrade: hello, parsing, rate limit, replies. */
let h: Harness;
let m: RunningMaster;
let token: string;

beforeAll(async () => {
  h = await openHarness();
  token = await h.register('p1');
  await h.register('p2');
  m = await h.startMaster({ helloTimeoutMs: 300, rateLimitBurst: 20, rateLimitPerSecond: 10 });
});
afterAll(async () => {
  await h.close();
});

const open = () => RawAgent.open(m.url, { workerId: 'p1', token });

async function protocolErrors(code: number): Promise<number> {
  const values = (await m.master.metrics.protocolErrors.get()).values;
  return values.find((v) => v.labels.code === String(code))?.value ?? 0;
}

describe('hello', () => {
  test('welcome carries the cadence; heartbeats are acked with their seq', async () => {
    const agent = await open();
    const welcome = await agent.hello('p1');
    expect(welcome).toEqual({
      type: 'welcome',
      protocol_version: PROTOCOL_VERSION,
      heartbeat_interval_ms: 200,
      heartbeat_timeout_ms: 1_000,
    });
    expect(await agent.heartbeat()).toBe(1);
    expect(await agent.heartbeat()).toBe(2);
    await agent.close();
  });

  test('no hello within helloTimeoutMs: closed 4408', async () => {
    const agent = await open();
    const started = performance.now();
    expect((await agent.closed).code).toBe(CloseCode.heartbeatTimeout);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  });

  test('a hello for another worker than the upgrade named: 4400', async () => {
    const agent = await open();
    agent.send({ type: 'hello', protocol_version: PROTOCOL_VERSION, worker_id: 'p2', agent_version: 'x', specs: SPECS });
    expect(await agent.closed).toMatchObject({ code: CloseCode.badMessage });
  });

  test('a second hello: 4400', async () => {
    const agent = await open();
    await agent.hello('p1');
    agent.send({ type: 'hello', protocol_version: PROTOCOL_VERSION, worker_id: 'p1', agent_version: 'x', specs: SPECS });
    expect(await agent.closed).toMatchObject({ code: CloseCode.badMessage, reason: 'second hello' });
  });

  test('a hello of another protocol version: 4426 (upgrade), also when its other fields differ', async () => {
    for (const extra of [{}, { capabilities: ['v2-only'] }]) {
      const agent = await open();
      const before = await protocolErrors(CloseCode.unsupportedVersion);
      agent.sendRaw(JSON.stringify({ type: 'hello', protocol_version: PROTOCOL_VERSION + 1, worker_id: 'p1', agent_version: 'x', specs: SPECS, ...extra }));
      expect(await agent.closed).toMatchObject({ code: CloseCode.unsupportedVersion, reason: `protocol version ${PROTOCOL_VERSION} required` });
      expect(await protocolErrors(CloseCode.unsupportedVersion)).toBe(before + 1);
    }
  });

  test('an agent of the previous protocol version (1) is admitted: welcome in version 1, heartbeats acked', async () => {
    const agent = await RawAgent.open(m.url, { workerId: 'p1', token, headers: { 'x-protocol-version': '1' } });
    const welcome = agent.next('welcome');
    agent.send({ type: 'hello', protocol_version: 1, worker_id: 'p1', agent_version: '0.1.0', specs: SPECS });
    expect(await welcome).toMatchObject({ type: 'welcome', protocol_version: 1 });
    expect(await agent.heartbeat()).toBe(1);
    agent.send({ type: 'specs', specs: SPECS });
    expect(await agent.heartbeat()).toBe(2);
    await agent.close();
  });

  test('a version 1 session is held to version 1: a version 2 hello is 4426, an inventory in its messages 4400', async () => {
    const v1 = await RawAgent.open(m.url, { workerId: 'p1', token, headers: { 'x-protocol-version': '1' } });
    v1.sendRaw(JSON.stringify({ type: 'hello', protocol_version: 2, worker_id: 'p1', agent_version: 'x', specs: SPECS }));
    expect(await v1.closed).toEqual({ code: CloseCode.unsupportedVersion, reason: 'protocol version 1 required' });

    const hardware = { gpus: [], host: { cpu_model: null, arch: null, sockets: null, physical_cores: null, threads: null, os_name: null, os_version: null, kernel: null, agent_version: null } };
    const withInventory = await RawAgent.open(m.url, { workerId: 'p1', token, headers: { 'x-protocol-version': '1' } });
    withInventory.sendRaw(JSON.stringify({ type: 'hello', protocol_version: 1, worker_id: 'p1', agent_version: 'x', specs: SPECS, hardware }));
    expect(await withInventory.closed).toMatchObject({ code: CloseCode.badMessage });
  });

  test('an upgrade naming a version this master does not speak: 426 naming the versions it does', async () => {
    const refused = await RawAgent.refused(m.url, { workerId: 'p1', token, headers: { 'x-protocol-version': '3' } });
    expect(refused).toEqual({ status: 426, body: 'protocol version 1 or 2 required' });
  });

  test('heartbeat or specs before hello: 4400', async () => {
    const a = await open();
    a.send({ type: 'heartbeat', seq: 1 });
    expect(await a.closed).toMatchObject({ code: CloseCode.badMessage, reason: 'heartbeat before hello' });
    const b = await open();
    b.send({ type: 'specs', specs: SPECS });
    expect(await b.closed).toMatchObject({ code: CloseCode.badMessage, reason: 'specs before hello' });
  });
});

describe('frames the parser refuses', () => {
  test.each([
    ['not JSON', '{nope', false, CloseCode.badMessage],
    ['binary', Buffer.from('{}'), true, CloseCode.badMessage],
    ['unknown type', JSON.stringify({ type: 'shell', cmd: 'rm' }), false, CloseCode.badMessage],
    ['unknown field', JSON.stringify({ type: 'heartbeat', seq: 1, extra: true }), false, CloseCode.badMessage],
    ['absurd specs', JSON.stringify({ type: 'specs', specs: { ...SPECS, total_cpu: -1 } }), false, CloseCode.badMessage],
  ])('%s: closed with the parser code and counted', async (_name, frame, binary, code) => {
    const agent = await open();
    await agent.hello('p1');
    const before = await protocolErrors(code);
    agent.sendRaw(frame, binary);
    expect((await agent.closed).code).toBe(code);
    expect(await protocolErrors(code)).toBe(before + 1);
  });

  test('a frame over the size limit never reaches the parser: ws closes 1009', async () => {
    const agent = await open();
    await agent.hello('p1');
    agent.sendRaw('x'.repeat(DEFAULTS.maxMessageBytes + 1));
    expect((await agent.closed).code).toBe(1009);
  });
});

describe('rate limit', () => {
  test('more than the burst at once: 4429', async () => {
    const agent = await open();
    await agent.hello('p1');
    for (let i = 0; i < 40; i++) agent.send({ type: 'heartbeat', seq: i });
    expect((await agent.closed).code).toBe(CloseCode.tooManyMessages);
  });

  test('pings count too: a ping flood is closed 4429 with its reason logged', async () => {
    const agent = await open();
    await agent.hello('p1');
    const mark = m.logs.length;
    for (let i = 0; i < 40; i++) agent.ws.ping();
    expect(await agent.closed).toMatchObject({ code: CloseCode.tooManyMessages, reason: 'too many pings' });
    expect(m.logs.slice(mark)).toContainEqual(
      expect.objectContaining({ msg: 'protocol error; closing', worker_id: 'p1', code: CloseCode.tooManyMessages, reason: 'too many pings' }),
    );
  });
});
