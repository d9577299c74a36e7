import type { Socket } from 'node:net';
import { CloseCode, DEFAULTS, HARDWARE_LIMITS, PROTOCOL_VERSION } from '@cluster/protocol';
import { H100_GPU } from '../../../packages/protocol/src/test-support/h100-sample.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { waitFor, type LogLine } from '../../integration/helpers/harness.js';
import { RawAgent, SPECS } from '../../integration/helpers/raw-agent.js';
import { collector } from '../support/collector.js';
import type { Snapshot } from '../support/snapshot.js';
import { HEARTBEAT_TIMEOUT_MS, type World } from '../support/world.js';

const AREA = 'after admission';

const hello = (workerId: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ type: 'hello', protocol_version: PROTOCOL_VERSION, worker_id: workerId, agent_version: 'hostile', specs: SPECS, ...extra });
/** An inventory the protocol accepts, and ways to break it: over its bounds, malformed, hostile text. */
const HOST = { cpu_model: 'Intel(R) Xeon(R) Platinum 8480+', arch: 'x86_64', sockets: 2, physical_cores: 112, threads: 224, os_name: 'Ubuntu', os_version: '22.04', kernel: '5.15.0-119-generic', agent_version: 'hostile' };
const gpus = (n: number, gpu: Record<string, unknown> = H100_GPU) => Array.from({ length: n }, (_, i) => ({ ...gpu, uuid: `GPU-${i}` }));
/** Under the frame limit, over the inventory's own byte bound: long (allowed) models on many GPUs. */
const BULKY = { gpus: gpus(40, { ...H100_GPU, model: 'M'.repeat(HARDWARE_LIMITS.maxTextLength) }), host: HOST };
export const HOSTILE_HARDWARE: readonly (readonly [string, unknown])[] = [
  [`${HARDWARE_LIMITS.maxGpus + 1} GPUs in its hardware`, { gpus: gpus(HARDWARE_LIMITS.maxGpus + 1).map((g) => ({ ...g, model: 'x', uuid: null, pci_bus_id: null, driver_version: null, cuda_driver_version: null, compute_capability: null })), host: HOST }],
  [`an inventory over ${HARDWARE_LIMITS.maxBytes} bytes (the frame under ${DEFAULTS.maxMessageBytes})`, BULKY],
  [`a GPU model of ${HARDWARE_LIMITS.maxTextLength + 1} characters`, { gpus: gpus(1, { ...H100_GPU, model: 'M'.repeat(HARDWARE_LIMITS.maxTextLength + 1) }), host: HOST }],
  ['an escape sequence in the GPU model', { gpus: gpus(1, { ...H100_GPU, model: '\u001b[2Jowned' }), host: HOST }],
  ['hardware as a string', 'H100 x8'],
  ['gpus as an object', { gpus: { 0: H100_GPU }, host: HOST }],
  ['memory_mib "81559"', { gpus: gpus(1, { ...H100_GPU, memory_mib: '81559' }), host: HOST }],
  ['an operator key in hardware.host', { gpus: [], host: { ...HOST, $set: { is_active: false } } }],
  ['no host', { gpus: gpus(1) }],
];
const specsMsg = (specs: Record<string, unknown>): string => JSON.stringify({ type: 'specs', specs: { ...SPECS, ...specs } });

interface Case {
  name: string;
  /** Say a valid hello first (the session is active), or attack the session still waiting for it. */
  afterHello: boolean;
  frames: () => { data: string | Buffer; binary?: boolean }[];
  codes: readonly number[];
  reason?: RegExp;
}

/** A session the master closed logs why: a protocol error (4xxx) or ws's own error (1007, 1009). */
const loggedClose = (workerId: string, code: number) => (l: LogLine) =>
  l.worker_id === workerId && ((l.msg === 'protocol error; closing' && l.code === code) || l.msg === 'websocket error');

/** Case 2: what an admitted connection may send. Every bad frame closes it with the right code; nothing is written. */
export function sessionArea(getWorld: () => World): void {
  describe('2. after admission: bad frames close the session, nothing written', () => {
    let w: World;
    let token: string;
    let before: Snapshot;
    const atk = 'atk';

    beforeAll(async () => {
      w = getWorld();
      token = await w.register(atk);
      w.live.add(atk);
      // Its first hello writes its specs; from then on the document may only move its liveness fields.
      const first = await RawAgent.admitted(w.url, { workerId: atk, token });
      await waitFor('atk specs written', async () => (await w.h.worker(atk))?.total_cpu === SPECS.total_cpu);
      await first.close();
      before = await w.snap();
    });

    afterAll(async () => {
      expect(await w.diff(AREA, before)).toEqual([]);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      await w.assertServing();
    });

    const cases: Case[] = [
      { name: 'invalid JSON before hello', afterHello: false, frames: () => [{ data: '{"type":"hello",' }], codes: [CloseCode.badMessage], reason: /JSON/ },
      { name: 'binary frame before hello', afterHello: false, frames: () => [{ data: Buffer.from(hello(atk)), binary: true }], codes: [CloseCode.badMessage] },
      { name: 'heartbeat before the hello', afterHello: false, frames: () => [{ data: '{"type":"heartbeat","seq":1}' }], codes: [CloseCode.badMessage], reason: /before hello/ },
      { name: 'specs before the hello', afterHello: false, frames: () => [{ data: specsMsg({}) }], codes: [CloseCode.badMessage] },
      { name: 'hello for another worker than the upgrade named', afterHello: false, frames: () => [{ data: hello('w1') }], codes: [CloseCode.badMessage] },
      { name: 'hello with total_cpu "8"', afterHello: false, frames: () => [{ data: hello(atk, { specs: { ...SPECS, total_cpu: '8' } }) }], codes: [CloseCode.badMessage] },
      { name: 'hello without specs', afterHello: false, frames: () => [{ data: JSON.stringify({ type: 'hello', protocol_version: PROTOCOL_VERSION, worker_id: atk, agent_version: 'x' }) }], codes: [CloseCode.badMessage] },
      { name: `hello with protocol_version ${PROTOCOL_VERSION + 1}`, afterHello: false, frames: () => [{ data: hello(atk, { protocol_version: PROTOCOL_VERSION + 1 }) }], codes: [CloseCode.badMessage, CloseCode.unsupportedVersion] },
      // Admitted at the upgrade as the newest version; a hello naming an older one is not that session's.
      { name: `hello with protocol_version ${PROTOCOL_VERSION - 1} in a version-${PROTOCOL_VERSION} session`, afterHello: false, frames: () => [{ data: hello(atk, { protocol_version: PROTOCOL_VERSION - 1 }) }], codes: [CloseCode.badMessage, CloseCode.unsupportedVersion] },
      { name: 'hello with a 1 KB agent_version', afterHello: false, frames: () => [{ data: hello(atk, { agent_version: 'v'.repeat(1024) }) }], codes: [CloseCode.badMessage] },
      // The hardware inventory (protocol 2): bounded and typed like the rest; refused whole, nothing of it written.
      ...HOSTILE_HARDWARE.map(([name, hardware]) => ({ name: `hello with ${name}`, afterHello: false, frames: () => [{ data: hello(atk, { hardware }) }], codes: [CloseCode.badMessage] })),
      { name: 'invalid JSON', afterHello: true, frames: () => [{ data: 'nope' }], codes: [CloseCode.badMessage] },
      { name: 'empty text frame', afterHello: true, frames: () => [{ data: '' }], codes: [CloseCode.badMessage] },
      { name: 'binary frame', afterHello: true, frames: () => [{ data: Buffer.from('{"type":"heartbeat","seq":1}'), binary: true }], codes: [CloseCode.badMessage] },
      { name: 'text frame that is not UTF-8', afterHello: true, frames: () => [{ data: Buffer.from([0x7b, 0xc3, 0x28, 0xff, 0x7d]) }], codes: [1007] },
      { name: 'unknown type', afterHello: true, frames: () => [{ data: '{"type":"exec","cmd":"rm -rf /"}' }], codes: [CloseCode.badMessage] },
      { name: 'heartbeat without seq', afterHello: true, frames: () => [{ data: '{"type":"heartbeat"}' }], codes: [CloseCode.badMessage] },
      { name: 'seq as a string', afterHello: true, frames: () => [{ data: '{"type":"heartbeat","seq":"1"}' }], codes: [CloseCode.badMessage] },
      { name: 'seq -1', afterHello: true, frames: () => [{ data: '{"type":"heartbeat","seq":-1}' }], codes: [CloseCode.badMessage] },
      { name: 'seq 2^53 + 2', afterHello: true, frames: () => [{ data: '{"type":"heartbeat","seq":9007199254740994}' }], codes: [CloseCode.badMessage] },
      { name: 'an operator as an extra field', afterHello: true, frames: () => [{ data: '{"type":"heartbeat","seq":1,"$set":{"is_active":false}}' }], codes: [CloseCode.badMessage] },
      { name: '__proto__ and constructor keys', afterHello: true, frames: () => [{ data: '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"type":"specs","specs":{"total_cpu":1,"total_memory":1,"total_storage":1,"total_gpu":1}}' }], codes: [CloseCode.badMessage] },
      { name: 'specs with total_cpu 1e308', afterHello: true, frames: () => [{ data: specsMsg({ total_cpu: 1e308 }) }], codes: [CloseCode.badMessage] },
      { name: 'specs with total_cpu -1', afterHello: true, frames: () => [{ data: specsMsg({ total_cpu: -1 }) }], codes: [CloseCode.badMessage] },
      { name: 'specs with total_cpu NaN', afterHello: true, frames: () => [{ data: specsMsg({ total_cpu: 0 }).replace('"total_cpu":0', '"total_cpu":NaN') }], codes: [CloseCode.badMessage] },
      { name: 'specs with total_cpu 1e999 (Infinity)', afterHello: true, frames: () => [{ data: specsMsg({ total_cpu: 0 }).replace('"total_cpu":0', '"total_cpu":1e999') }], codes: [CloseCode.badMessage] },
      { name: 'specs with total_cpu "8"', afterHello: true, frames: () => [{ data: specsMsg({ total_cpu: '8' }) }], codes: [CloseCode.badMessage] },
      { name: 'specs with total_cpu null', afterHello: true, frames: () => [{ data: specsMsg({ total_cpu: null }) }], codes: [CloseCode.badMessage] },
      { name: 'specs with total_gpu 1.5', afterHello: true, frames: () => [{ data: specsMsg({ total_gpu: 1.5 }) }], codes: [CloseCode.badMessage] },
      { name: 'specs with total_memory above the limit', afterHello: true, frames: () => [{ data: specsMsg({ total_memory: 2e6 }) }], codes: [CloseCode.badMessage] },
      { name: 'specs missing total_storage', afterHello: true, frames: () => [{ data: JSON.stringify({ type: 'specs', specs: { total_cpu: 1, total_memory: 1, total_gpu: 0 } }) }], codes: [CloseCode.badMessage] },
      { name: 'a second hello, same specs', afterHello: true, frames: () => [{ data: hello(atk) }], codes: [CloseCode.badMessage], reason: /second hello/ },
      { name: 'a second hello with other specs', afterHello: true, frames: () => [{ data: hello(atk, { specs: { ...SPECS, total_cpu: 4096 } }) }], codes: [CloseCode.badMessage], reason: /second hello/ },
      { name: `a frame over the ${DEFAULTS.maxMessageBytes / 1024} KiB limit`, afterHello: true, frames: () => [{ data: `{"type":"heartbeat","seq":1,"p":"${'x'.repeat(DEFAULTS.maxMessageBytes + 1_000)}"}` }], codes: [1009, CloseCode.messageTooBig] },
      { name: 'a frame of 1 MiB', afterHello: true, frames: () => [{ data: Buffer.alloc(1 << 20, 0x20) }], codes: [1009, CloseCode.messageTooBig] },
      { name: 'a binary frame of 64 KiB', afterHello: true, frames: () => [{ data: Buffer.alloc(1 << 16), binary: true }], codes: [1009, CloseCode.messageTooBig] },
    ];

    test.each(cases.map((c) => [c.name, c] as const))('%s: closed with the right code and logged', async (_name, c) => {
      const snap = await w.snap();
      const agent = await RawAgent.open(w.url, { workerId: atk, token });
      if (c.afterHello) await agent.hello(atk);
      const mark = w.logMark();
      for (const f of c.frames()) agent.sendRaw(f.data, f.binary ?? false);
      const closed = await Promise.race([
        agent.closed,
        new Promise<undefined>((r) => setTimeout(r, 3_000, undefined)),
      ]);
      if (closed === undefined) agent.destroy();
      const code = closed?.code;
      collector.text(`close reason: ${c.name}`, closed?.reason ?? '');
      const logged = await w.waitLog(mark, loggedClose(atk, code ?? -1), c.name, 500).then(() => true, () => false);
      const diffs = await w.diff(AREA, snap);
      const ok = code !== undefined && c.codes.includes(code) && diffs.length === 0 && logged;
      collector.record(AREA, c.name, ok, 'refusal', `close ${code}`);
      expect(closed, `${c.name}: the master did not close the session within 3 s`).toBeDefined();
      expect(c.codes, `${c.name}: closed with ${code} (${closed?.reason})`).toContain(code);
      if (c.reason) expect(closed?.reason).toMatch(c.reason);
      expect(logged, `${c.name}: no log line gives the reason`).toBe(true);
      expect(diffs).toEqual([]);
    });

    test('a ping flood from an agent that never reads the pongs: dropped, memory bounded, logged', async () => {
      const snap = await w.snap();
      const flooder = await RawAgent.admitted(w.url, { workerId: atk, token });
      const mark = w.logMark();
      const heapBefore = process.memoryUsage();
      (flooder.ws as unknown as { _socket: Socket })._socket.pause();
      const payload = Buffer.alloc(125, 0x70);
      let sent = 0;
      const from = performance.now();
      while (flooder.ws.readyState === flooder.ws.OPEN && performance.now() - from < 2_000) {
        for (let i = 0; i < 1_000 && flooder.ws.readyState === flooder.ws.OPEN; i++, sent++) flooder.ws.ping(payload);
        await new Promise((r) => setImmediate(r));
      }
      const closed = await Promise.race([flooder.closed, new Promise<undefined>((r) => setTimeout(r, 2_000, undefined))]);
      if (closed === undefined) flooder.destroy();
      const grown = process.memoryUsage().arrayBuffers - heapBefore.arrayBuffers;
      const logged = await w.waitLog(mark, (l) => l.worker_id === atk && l.msg === 'disconnected', 'disconnected', 1_000).then(() => true, () => false);
      const diffs = await w.diff(AREA, snap);
      collector.note(`ping flood: ${sent} pings of 125 B before the master dropped the connection (close ${closed?.code}); buffer memory change ${(grown / 1048576).toFixed(1)} MiB`);
      const ok = closed !== undefined && logged && diffs.length === 0;
      collector.record(AREA, 'ping flood without reading', ok);
      expect(closed, 'the master kept a connection that floods pings and reads nothing').toBeDefined();
      expect(logged).toBe(true);
      expect(grown).toBeLessThan(64 * 1024 * 1024);
      await w.ctl.nextAck();
      expect(diffs).toEqual([]);
    });

    test('a flood of 10,000 messages a second: closed 4429 at once, the other agents unaffected', async () => {
      const snap = await w.snap();
      const flooder = await RawAgent.admitted(w.url, { workerId: atk, token });
      const from = performance.now();
      const acksBefore = w.ctl.count(0);
      let sent = 0;
      let closedAt: number | undefined;
      void flooder.closed.then(() => (closedAt = performance.now()));
      // 100 heartbeats every 10 ms for up to a second: 10,000 a second, until the master closes.
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (closedAt !== undefined || performance.now() - from > 1_000) {
            clearInterval(timer);
            resolve();
            return;
          }
          for (let i = 0; i < 100; i++) {
            if (flooder.ws.readyState !== flooder.ws.OPEN) break;
            flooder.send({ type: 'heartbeat', seq: ++sent });
          }
        }, 10);
      });
      const closed = await Promise.race([flooder.closed, new Promise<undefined>((r) => setTimeout(r, 2_000, undefined))]);
      if (closed === undefined) flooder.destroy();
      // The control agents must keep their cadence while it happens and right after.
      await w.ctl.nextAck();
      const to = performance.now();
      const gap = w.ctl.maxGapMs(from, to);
      const diffs = await w.diff(AREA, snap);
      const acked = flooder.received.filter((m) => m.type === 'ack').length;
      collector.note(`flood: ${sent} heartbeats sent in ${Math.round((closedAt ?? to) - from)} ms before the close, ${acked} acked, control's longest ack gap ${Math.round(gap)} ms`);
      const ok = closed?.code === CloseCode.tooManyMessages && gap < HEARTBEAT_TIMEOUT_MS && diffs.length === 0;
      collector.record(AREA, 'flood of 10,000 messages/s from one agent', ok);
      expect(closed?.code).toBe(CloseCode.tooManyMessages);
      expect(acked, 'the master acked more than its burst allows').toBeLessThanOrEqual(40);
      expect(w.ctl.count(0)).toBeGreaterThan(acksBefore);
      expect(gap, 'the control agent went without an ack for longer than the heartbeat timeout').toBeLessThan(HEARTBEAT_TIMEOUT_MS);
      await w.waitLog(0, (l) => l.msg === 'protocol error; closing' && l.code === CloseCode.tooManyMessages, 'the 4429 close');
      expect(diffs).toEqual([]);
    });
  });
}
