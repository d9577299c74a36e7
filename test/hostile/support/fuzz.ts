import { CloseCode, DEFAULTS, HARDWARE_LIMITS, PROTOCOL_VERSION, SPEC_LIMITS, parseAgentMessage, type Specs } from '@cluster/protocol';
import { H100_GPU } from '../../../packages/protocol/src/test-support/h100-sample.js';

/** mulberry32: a tiny seeded PRNG, so a failing run can be replayed from its seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
}

/** The seed: FUZZ_SEED from the environment, else a fixed default (the suite is reproducible by default). */
export function fuzzSeed(): number {
  const given = process.env.FUZZ_SEED;
  if (given !== undefined && given !== '') {
    const n = Number(given);
    if (!Number.isInteger(n)) throw new Error(`FUZZ_SEED must be an integer, got ${JSON.stringify(given)}`);
    return n >>> 0;
  }
  return 0x5eed_2026;
}

export interface Frame {
  data: Buffer;
  binary: boolean;
  /** How it was made, for the failure report. */
  label: string;
}

export type SessionState = 'awaiting-hello' | 'active';

export type Expectation =
  | { kind: 'welcome'; specs: Specs }
  | { kind: 'ack'; seq: number }
  /** A valid message without a reply (specs): probed with a heartbeat. */
  | { kind: 'silent'; specs: Specs }
  | { kind: 'close'; codes: readonly number[]; why: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isUtf8(data: Buffer): boolean {
  try {
    utf8.decode(data);
    return true;
  } catch {
    return false;
  }
}

/** A text frame that is a JSON hello whose protocol_version is not this version's. */
function otherVersionHello(frame: Frame): boolean {
  if (frame.binary) return false;
  try {
    const value: unknown = JSON.parse(frame.data.toString('utf8'));
    if (value === null || typeof value !== 'object') return false;
    const { type, protocol_version: version } = value as { type?: unknown; protocol_version?: unknown };
    return type === 'hello' && version !== PROTOCOL_VERSION;
  } catch {
    return false;
  }
}

/**
 * What the master must do with this frame in this state: the protocol's own
 * parser is the oracle for validity, the session rules (one hello first, then
 * heartbeats and specs) for order, and ws's limits for what never reaches the
 * parser (over maxPayload: 1009; text that is not UTF-8: 1007).
 */
export function expectationFor(frame: Frame, state: SessionState, workerId: string): Expectation {
  if (frame.data.length > DEFAULTS.maxMessageBytes) {
    return { kind: 'close', codes: [1009, CloseCode.messageTooBig], why: 'over the size limit' };
  }
  if (!frame.binary && !isUtf8(frame.data)) return { kind: 'close', codes: [1007], why: 'text frame is not UTF-8' };
  const parsed = parseAgentMessage(frame.data, frame.binary);
  if (!parsed.ok) {
    // A hello naming another protocol version may be answered with the version it needs (4426), as the session area allows.
    const codes = otherVersionHello(frame) ? [parsed.code, CloseCode.unsupportedVersion] : [parsed.code];
    return { kind: 'close', codes, why: parsed.reason };
  }
  const m = parsed.message;
  switch (m.type) {
    case 'hello':
      if (state !== 'awaiting-hello') return { kind: 'close', codes: [CloseCode.badMessage], why: 'second hello' };
      if (m.worker_id !== workerId) return { kind: 'close', codes: [CloseCode.badMessage], why: 'hello for another worker' };
      return { kind: 'welcome', specs: m.specs };
    case 'heartbeat':
      if (state !== 'active') return { kind: 'close', codes: [CloseCode.badMessage], why: 'heartbeat before hello' };
      return { kind: 'ack', seq: m.seq };
    case 'specs':
      if (state !== 'active') return { kind: 'close', codes: [CloseCode.badMessage], why: 'specs before hello' };
      return { kind: 'silent', specs: m.specs };
  }
}

// ---------------------------------------------------------------- generators

const RAW = '\u0000raw:';

/** A JSON value that JSON.stringify cannot produce (NaN, 1e999, -0, a duplicate key …), spliced in as text. */
function raw(text: string): string {
  return `${RAW}${text}\u0000`;
}

function toText(value: unknown): string {
  return JSON.stringify(value).replace(/"\\u0000raw:(.*?)\\u0000"/g, (_m, text: string) => JSON.parse(`"${text}"`) as string);
}

const HOSTILE_STRINGS = [
  '',
  ' ',
  '8',
  'NaN',
  'Infinity',
  'true',
  'null',
  '{"$gt":""}',
  '$where',
  'x'.repeat(70),
  'x'.repeat(3000),
  '\u202eevil',
  '\u0000',
  '\u001b[31mred',
  '\u009b31m',
  '💥🔥',
  'ümlaut',
  '\ud800',
  '__proto__',
  'constructor',
  'hello',
  'heartbeat',
  'specs',
];

const HOSTILE_NUMBERS: unknown[] = [
  0,
  -1,
  -0.5,
  1.5,
  1e308,
  -1e308,
  5e-324,
  2 ** 53,
  2 ** 53 + 2,
  Number.MAX_SAFE_INTEGER,
  SPEC_LIMITS.maxCpu + 1,
  SPEC_LIMITS.maxGpu + 1,
  raw('NaN'),
  raw('Infinity'),
  raw('1e999'),
  raw('-1e999'),
  raw('-0'),
  raw('0x10'),
  raw('01'),
  raw('1e3'),
];

const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', '$set', '$where', '$gt', 'type', 'seq', 'specs', 'worker_id', '', 'x'.repeat(200)];

const TYPES = ['hello', 'heartbeat', 'specs', 'Hello', 'HEARTBEAT', 'welcome', 'ack', 'reboot', '', 'heartbeat\u0000', 'héllo', '__proto__', 'constructor', 'toString'];

function validSpecs(r: Rng): Specs {
  const pickNumber = (max: number, integer: boolean): number => {
    switch (r.int(6)) {
      case 0:
        return 0;
      case 1:
        return max;
      case 2:
        return r.int(max + 1);
      default:
        return integer ? r.int(Math.min(max, 128) + 1) : Math.round(r.next() * Math.min(max, 4096) * 100) / 100;
    }
  };
  return {
    total_cpu: pickNumber(SPEC_LIMITS.maxCpu, false),
    total_memory: pickNumber(SPEC_LIMITS.maxMemory, false),
    total_storage: pickNumber(SPEC_LIMITS.maxStorage, false),
    total_gpu: pickNumber(SPEC_LIMITS.maxGpu, true),
  };
}

export function validMessage(r: Rng, state: SessionState, workerId: string): Record<string, unknown> {
  if (state === 'awaiting-hello') {
    return { type: 'hello', protocol_version: PROTOCOL_VERSION, worker_id: workerId, agent_version: `fuzz-${r.int(1000)}`, specs: validSpecs(r) };
  }
  return r.chance(0.6) ? { type: 'heartbeat', seq: r.int(1_000_000) } : { type: 'specs', specs: validSpecs(r) };
}

function hostileValue(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 3 ? 4 : 7)) {
    case 0:
      return r.pick(HOSTILE_NUMBERS);
    case 1:
      return r.pick(HOSTILE_STRINGS);
    case 2:
      return r.pick([null, true, false]);
    case 3:
      return r.int(100);
    case 4:
      return Array.from({ length: r.int(4) }, () => hostileValue(r, depth + 1));
    case 5:
      return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(HOSTILE_KEYS), hostileValue(r, depth + 1)]));
    default:
      return raw(`{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}`);
  }
}

/** All paths to the leaves and inner objects of a plain JSON value. */
function paths(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  const out: string[][] = prefix.length > 0 ? [prefix] : [];
  for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

function parentOf(root: Record<string, unknown>, path: string[]): Record<string, unknown> | undefined {
  let node: unknown = root;
  for (const key of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node !== null && typeof node === 'object' ? (node as Record<string, unknown>) : undefined;
}

/** A valid message with one to three structural mutations. */
function mutated(r: Rng, state: SessionState, workerId: string): { text: string; label: string } {
  const message = structuredClone(validMessage(r, r.chance(0.7) ? state : state === 'active' ? 'awaiting-hello' : 'active', workerId));
  const labels: string[] = [];
  let text: string | undefined;
  for (let i = 1 + r.int(3); i > 0; i--) {
    const all = paths(message);
    if (all.length === 0) {
      message[r.pick(HOSTILE_KEYS)] = hostileValue(r);
      labels.push('refill');
      continue;
    }
    const path = r.pick(all);
    const parent = parentOf(message, path);
    const key = path[path.length - 1];
    switch (r.int(6)) {
      case 0:
        if (parent && key !== undefined) delete parent[key];
        labels.push(`drop ${path.join('.')}`);
        break;
      case 1:
        if (parent && key !== undefined) parent[key] = hostileValue(r);
        labels.push(`swap ${path.join('.')}`);
        break;
      case 2: {
        const extra = r.pick(HOSTILE_KEYS);
        (parent ?? message)[extra] = hostileValue(r);
        labels.push(`add ${extra}`);
        break;
      }
      case 3:
        message.type = r.pick(TYPES);
        labels.push(`type ${String(message.type)}`);
        break;
      case 4:
        // A key JSON.stringify cannot write as an own property: spliced in as text.
        text = (text ?? toText(message)).replace(/^\{/, `{"${r.pick(['__proto__', 'constructor', 'type'])}":${toText(hostileValue(r))},`);
        labels.push('spliced key');
        break;
      default:
        if (parent && key !== undefined) parent[key] = r.pick(HOSTILE_NUMBERS);
        labels.push(`number ${path.join('.')}`);
    }
  }
  return { text: text ?? toText(message), label: `mutated (${labels.join(', ')})` };
}

function byteMutated(r: Rng, state: SessionState, workerId: string): { data: Buffer; label: string } {
  const data = Buffer.from(toText(validMessage(r, state, workerId)), 'utf8');
  const labels: string[] = [];
  for (let i = 1 + r.int(3); i > 0 && data.length > 0; i--) {
    const at = r.int(data.length);
    switch (r.int(4)) {
      case 0:
        data[at] = (data[at] ?? 0) ^ (1 << r.int(8));
        labels.push(`flip@${at}`);
        break;
      case 1:
        data[at] = r.int(256);
        labels.push(`byte@${at}`);
        break;
      case 2:
        labels.push(`truncate@${at}`);
        return { data: data.subarray(0, at), label: `bytes (${labels.join(', ')})` };
      default:
        data[at] = r.pick([0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x00, 0xc0, 0xff]);
        labels.push(`syntax@${at}`);
    }
  }
  return { data, label: `bytes (${labels.join(', ')})` };
}

function randomJson(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 4 ? 3 : 6)) {
    case 0:
      return r.pick(HOSTILE_NUMBERS);
    case 1:
      return r.pick(HOSTILE_STRINGS);
    case 2:
      return r.pick([null, true, false, 0, 1]);
    case 3:
      return Array.from({ length: r.int(5) }, () => randomJson(r, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: r.int(5) }, () => [r.chance(0.5) ? r.pick(HOSTILE_KEYS) : `k${r.int(100)}`, randomJson(r, depth + 1)]),
      );
  }
}

/** A valid inventory (protocol 2's hello): 1 to 8 GPUs of the recorded H100 host. */
function validHardware(r: Rng): Record<string, unknown> {
  return {
    gpus: Array.from({ length: 1 + r.int(8) }, (_, i) => ({ ...H100_GPU, uuid: `GPU-fuzz-${i}` })),
    host: { cpu_model: 'Intel(R) Xeon(R) Platinum 8480+', arch: r.pick(['x86_64', 'aarch64']), sockets: 2, physical_cores: 112, threads: 224, os_name: 'Ubuntu', os_version: '22.04', kernel: '5.15.0-119-generic', agent_version: 'fuzz' },
  };
}

/**
 * A hello whose inventory is mutated until the protocol refuses it (a valid
 * one would be written, and the registry check expects only specs to move):
 * hostile values, dropped or added keys, a device list over its bound.
 */
function hostileHardwareHello(r: Rng, workerId: string): { text: string; label: string } {
  for (let attempt = 0; attempt < 8; attempt++) {
    const hardware = validHardware(r);
    const labels: string[] = [];
    for (let i = 1 + r.int(2); i > 0; i--) {
      const all = paths(hardware);
      const path = r.pick(all);
      const parent = parentOf(hardware, path);
      const key = path[path.length - 1];
      if (parent === undefined || key === undefined) continue;
      switch (r.int(4)) {
        case 0:
          delete parent[key];
          labels.push(`drop hardware.${path.join('.')}`);
          break;
        case 1:
          parent[r.pick(HOSTILE_KEYS)] = hostileValue(r);
          labels.push(`add to hardware.${path.slice(0, -1).join('.') || '(top)'}`);
          break;
        case 2:
          parent[key] = r.pick(HOSTILE_NUMBERS);
          labels.push(`number hardware.${path.join('.')}`);
          break;
        default:
          parent[key] = r.chance(0.5) ? r.pick(HOSTILE_STRINGS) : hostileValue(r);
          labels.push(`swap hardware.${path.join('.')}`);
      }
    }
    const text = toText({ type: 'hello', protocol_version: PROTOCOL_VERSION, worker_id: workerId, agent_version: 'fuzz', specs: SPEC_SAMPLE, hardware });
    if (!parseAgentMessage(Buffer.from(text, 'utf8')).ok) return { text, label: `hello with a mutated inventory (${labels.join(', ')})` };
  }
  const gpus = Array.from({ length: HARDWARE_LIMITS.maxGpus + 1 }, () => ({ ...H100_GPU, model: 'x', uuid: null, pci_bus_id: null }));
  return { text: toText({ type: 'hello', protocol_version: PROTOCOL_VERSION, worker_id: workerId, agent_version: 'fuzz', specs: SPEC_SAMPLE, hardware: { ...validHardware(r), gpus } }), label: 'hello with too many GPUs' };
}

const SPEC_SAMPLE: Specs = { total_cpu: 224, total_memory: 2015.5, total_storage: 30720, total_gpu: 8 };

/** One fuzz frame for a connection in `state`. */
export function generateFrame(r: Rng, state: SessionState, workerId: string): Frame {
  const roll = r.int(100);
  const text = (t: string, label: string): Frame => ({ data: Buffer.from(t, 'utf8'), binary: false, label });
  if (roll < 12) {
    const m = validMessage(r, state, workerId);
    return text(toText(m), `valid ${String(m.type)}`);
  }
  if (roll < 50) {
    const m = mutated(r, state, workerId);
    return text(m.text, m.label);
  }
  if (roll < 68) {
    const m = byteMutated(r, state, workerId);
    return { data: m.data, binary: false, label: m.label };
  }
  if (roll < 74) {
    const m = hostileHardwareHello(r, workerId);
    return text(m.text, m.label);
  }
  if (roll < 82) return text(toText(randomJson(r)), 'random JSON');
  if (roll < 87) {
    const depth = 1 + r.int(2_000);
    return r.chance(0.5)
      ? text(`${'['.repeat(depth)}${']'.repeat(depth)}`, `nested arrays x${depth}`)
      : text(`${'{"a":'.repeat(Math.min(depth, 800))}1${'}'.repeat(Math.min(depth, 800))}`, `nested objects x${Math.min(depth, 800)}`);
  }
  if (roll < 91) {
    const m = validMessage(r, state, workerId);
    return { data: Buffer.from(toText(m), 'utf8'), binary: true, label: `valid ${String(m.type)} as a binary frame` };
  }
  if (roll < 94) {
    return { data: Buffer.from(Array.from({ length: r.int(64) }, () => r.int(256))), binary: r.chance(0.5), label: 'random bytes' };
  }
  if (roll < 97) {
    const size = DEFAULTS.maxMessageBytes + 1 + r.int(16_000);
    return text(`{"type":"heartbeat","seq":1,"pad":"${'x'.repeat(size)}"}`, `oversized (${size} B padding)`);
  }
  return text(r.pick(['', ' ', 'null', '[]', '{}', '"hello"', '0', 'true']), 'trivial JSON');
}

/** The first bytes of a frame, printable, for a failure report. */
export function excerpt(frame: Frame): string {
  const t = frame.data.subarray(0, 160).toString('latin1').replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `${frame.binary ? 'binary ' : ''}${frame.data.length} B: ${t}${frame.data.length > 160 ? '…' : ''}`;
}
