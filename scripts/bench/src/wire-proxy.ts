import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { BSON, type Document } from 'mongodb';

/**
 * A TCP proxy in front of the dev database that reads the MongoDB wire
 * protocol going through it. The master's driver connects to it instead of
 * the database, so the benchmark counts the commands the master really sends
 * (a MongoClient's command monitoring only sees its own process), times each
 * one from request to reply, and can keep the commands of a window for the
 * raw-driver replay. Bytes are forwarded as they arrive; parsing is a side copy.
 */

export type CommandKind = 'write' | 'read' | 'other';

const WRITES = new Set(['insert', 'update', 'delete', 'findAndModify', 'createIndexes', 'create', 'drop', 'dropIndexes']);
const READS = new Set(['find', 'getMore', 'aggregate', 'count', 'distinct', 'listCollections', 'listIndexes']);

export function commandKind(name: string): CommandKind {
  if (WRITES.has(name)) return 'write';
  if (READS.has(name)) return 'read';
  return 'other';
}

export interface CommandStats {
  count: number;
  /** Sum of request-to-reply times seen at the proxy, ms. */
  totalMs: number;
}

export type ProxySnapshot = Record<string, CommandStats>;

export interface RecordedCommand {
  /** performance.now() when the request went through. */
  atMs: number;
  name: string;
  /** The command document, with document sequences (OP_MSG kind 1) folded back in as arrays. */
  command: Document;
  /** Request-to-reply time at the proxy, ms (set when the reply passes). */
  durationMs: number | undefined;
}

const OP_MSG = 2013;
const OP_QUERY = 2004;

interface Pending {
  name: string;
  atMs: number;
  recorded: RecordedCommand | undefined;
}

/**
 * Splits a byte stream into wire-protocol messages without copying them:
 * `onMessage` gets the first `prefixFor(header)` bytes of each (the whole
 * message when that is Infinity). Replies of a full view refresh are
 * megabytes; only their 16-byte header is needed.
 */
class Framer {
  #chunks: Buffer[] = [];
  #total = 0;

  constructor(
    private readonly prefixFor: (header: Buffer) => number,
    private readonly onMessage: (prefix: Buffer, length: number) => void,
  ) {}

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#total += chunk.length;
    while (this.#total >= 16) {
      const header = this.#peek(16);
      const length = header.readInt32LE(0);
      if (length < 16) {
        // Not the wire protocol: stop counting this connection, keep forwarding it.
        this.#chunks = [];
        this.#total = Number.NEGATIVE_INFINITY;
        return;
      }
      if (this.#total < length) return;
      const prefix = this.#peek(Math.min(length, Math.max(16, this.prefixFor(header))));
      this.#drop(length);
      this.onMessage(prefix, length);
    }
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    const parts: Buffer[] = [];
    let got = 0;
    for (const c of this.#chunks) {
      parts.push(c);
      got += c.length;
      if (got >= n) break;
    }
    return Buffer.concat(parts).subarray(0, n);
  }

  #drop(n: number): void {
    let left = n;
    while (left > 0) {
      const c = this.#chunks[0];
      if (c === undefined) break;
      if (c.length <= left) {
        this.#chunks.shift();
        left -= c.length;
        this.#total -= c.length;
      } else {
        this.#chunks[0] = c.subarray(left);
        this.#total -= left;
        left = 0;
      }
    }
  }
}

/** The first key of a BSON document starting at `offset` (the command name). */
function firstKey(buf: Buffer, offset: number): string {
  const start = offset + 5;
  const end = buf.indexOf(0, start);
  return end < 0 || start >= buf.length ? '?' : buf.toString('utf8', start, end);
}

function decodeOpMsg(message: Buffer): Document {
  const flags = message.readUInt32LE(16);
  const end = message.length - ((flags & 1) === 1 ? 4 : 0);
  let pos = 20;
  let body: Document = {};
  const sequences: Record<string, Document[]> = {};
  while (pos < end) {
    const kind = message.readUInt8(pos);
    pos += 1;
    if (kind === 0) {
      const size = message.readInt32LE(pos);
      body = BSON.deserialize(message.subarray(pos, pos + size), { promoteValues: false, promoteLongs: false });
      pos += size;
    } else {
      const size = message.readInt32LE(pos);
      const sectionEnd = pos + size;
      const nameEnd = message.indexOf(0, pos + 4);
      const identifier = message.toString('utf8', pos + 4, nameEnd);
      let docPos = nameEnd + 1;
      const docs: Document[] = [];
      while (docPos < sectionEnd) {
        const docSize = message.readInt32LE(docPos);
        docs.push(BSON.deserialize(message.subarray(docPos, docPos + docSize), { promoteValues: false, promoteLongs: false }));
        docPos += docSize;
      }
      sequences[identifier] = docs;
      pos = sectionEnd;
    }
  }
  return { ...body, ...sequences };
}

export class WireProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #stats = new Map<string, CommandStats>();
  #recording: RecordedCommand[] | undefined;
  #port = 0;

  constructor(
    private readonly upstreamHost: string,
    private readonly upstreamPort: number,
  ) {
    this.#server = createServer((client) => this.#onClient(client));
  }

  get port(): number {
    return this.#port;
  }

  get uri(): string {
    return `mongodb://127.0.0.1:${this.#port}/`;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  /** Counts so far, by command name (a copy). */
  snapshot(): ProxySnapshot {
    const out: ProxySnapshot = {};
    for (const [name, s] of this.#stats) out[name] = { ...s };
    return out;
  }

  /** Starts keeping the full commands (for the replay). */
  startRecording(): void {
    this.#recording = [];
  }

  stopRecording(): RecordedCommand[] {
    const recorded = this.#recording ?? [];
    this.#recording = undefined;
    return recorded;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #onClient(client: Socket): void {
    const upstream = createConnection({ host: this.upstreamHost, port: this.upstreamPort });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    const pending = new Map<number, Pending>();
    const requests = new Framer(
      (header) => (this.#recording !== undefined && header.readInt32LE(12) === OP_MSG ? Number.POSITIVE_INFINITY : 256),
      (message) => this.#onRequest(message, pending),
    );
    const replies = new Framer(
      () => 16,
      (message) => this.#onReply(message, pending),
    );
    client.on('data', (chunk: Buffer) => {
      requests.push(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      replies.push(chunk);
      client.write(chunk);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  }

  #onRequest(message: Buffer, pending: Map<number, Pending>): void {
    const requestId = message.readInt32LE(4);
    const opCode = message.readInt32LE(12);
    let name = `op${opCode}`;
    let recorded: RecordedCommand | undefined;
    if (opCode === OP_MSG) {
      // Byte 20 is the first section's kind; the driver sends the body (kind 0) first.
      name = message.readUInt8(20) === 0 ? firstKey(message, 21) : '?';
      if (this.#recording !== undefined && commandKind(name) !== 'other') {
        recorded = { atMs: performance.now(), name, command: decodeOpMsg(message), durationMs: undefined };
        this.#recording.push(recorded);
      }
    } else if (opCode === OP_QUERY) {
      name = 'legacyHello';
    }
    pending.set(requestId, { name, atMs: performance.now(), recorded });
  }

  #onReply(message: Buffer, pending: Map<number, Pending>): void {
    const p = pending.get(message.readInt32LE(8));
    if (p === undefined) return;
    pending.delete(message.readInt32LE(8));
    const ms = performance.now() - p.atMs;
    const s = this.#stats.get(p.name) ?? { count: 0, totalMs: 0 };
    s.count += 1;
    s.totalMs += ms;
    this.#stats.set(p.name, s);
    if (p.recorded !== undefined) p.recorded.durationMs = ms;
  }
}

/** after − before, by command name; plus write/read/other totals. */
export function diffProxy(before: ProxySnapshot, after: ProxySnapshot): {
  byCommand: ProxySnapshot;
  writes: number;
  reads: number;
  other: number;
  writeMs: number;
  readMs: number;
} {
  const byCommand: ProxySnapshot = {};
  let writes = 0;
  let reads = 0;
  let other = 0;
  let writeMs = 0;
  let readMs = 0;
  for (const [name, a] of Object.entries(after)) {
    const b = before[name] ?? { count: 0, totalMs: 0 };
    const d = { count: a.count - b.count, totalMs: a.totalMs - b.totalMs };
    if (d.count === 0) continue;
    byCommand[name] = d;
    const kind = commandKind(name);
    if (kind === 'write') {
      writes += d.count;
      writeMs += d.totalMs;
    } else if (kind === 'read') {
      reads += d.count;
      readMs += d.totalMs;
    } else {
      other += d.count;
    }
  }
  return { byCommand, writes, reads, other, writeMs, readMs };
}
