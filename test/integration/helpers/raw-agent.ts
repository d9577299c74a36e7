import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import {
  HEADERS,
  PROTOCOL_VERSION,
  bearer,
  encode,
  parseMasterMessage,
  type AgentMessage,
  type MasterMessage,
  type Specs,
  type Welcome,
} from '@cluster/protocol';
import WebSocket from 'ws';

export const SPECS: Specs = { total_cpu: 8, total_memory: 16, total_storage: 500, total_gpu: 1 };

export interface ConnectOptions {
  workerId?: string;
  token?: string;
  /** Overrides (undefined removes) individual headers. */
  headers?: Record<string, string | undefined>;
  localAddress?: string;
  autoPong?: boolean;
  path?: string;
}

export interface Refused {
  status: number;
  body: string;
  /** The Retry-After header, when the master sent one (a master still loading its registry). */
  retryAfter?: string;
}

export interface Closed {
  code: number;
  reason: string;
}

function headersFor(options: ConnectOptions): Record<string, string> {
  const headers: Record<string, string | undefined> = {
    [HEADERS.protocolVersion]: String(PROTOCOL_VERSION),
    ...(options.workerId === undefined ? {} : { [HEADERS.workerId]: options.workerId }),
    ...(options.token === undefined ? {} : { [HEADERS.authorization]: bearer(options.token) }),
    ...options.headers,
  };
  return Object.fromEntries(Object.entries(headers).filter((e): e is [string, string] => e[1] !== undefined));
}

/**
 * A hand-driven agent for protocol-level tests: it sends exactly what the
 * test says, when the test says, and records what the master sends back.
 */
export class RawAgent {
  readonly received: MasterMessage[] = [];
  readonly closed: Promise<Closed>;
  #waiters: { type: string; resolve: (m: MasterMessage) => void }[] = [];
  #beat: NodeJS.Timeout | undefined;
  #seq = 0;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.stopBeating();
        resolve({ code, reason: reason.toString('utf8') });
      });
    });
    ws.on('error', () => undefined);
    ws.on('message', (data, isBinary) => {
      const parsed = parseMasterMessage(data, isBinary);
      if (!parsed.ok) throw new Error(`master sent a bad message: ${parsed.reason}`);
      this.received.push(parsed.message);
      const index = this.#waiters.findIndex((w) => w.type === parsed.message.type);
      if (index !== -1) {
        const [waiter] = this.#waiters.splice(index, 1);
        waiter?.resolve(parsed.message);
      }
    });
  }

  /** Upgrades; resolves with the agent, or with the refusal (status and body). */
  static async connect(baseUrl: string, options: ConnectOptions = {}): Promise<RawAgent | Refused> {
    const ws = new WebSocket(`${baseUrl}${options.path ?? '/agent'}`, {
      headers: headersFor(options),
      perMessageDeflate: false,
      autoPong: options.autoPong ?? true,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new RawAgent(ws)));
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        const retryAfter = res.headers['retry-after'];
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim(), ...(retryAfter === undefined ? {} : { retryAfter }) }));
        res.on('error', reject);
      });
      ws.once('error', (error) => reject(error));
    });
  }

  /** Connects and expects to be admitted. */
  static async open(baseUrl: string, options: ConnectOptions): Promise<RawAgent> {
    const result = await RawAgent.connect(baseUrl, options);
    if (!(result instanceof RawAgent)) throw new Error(`refused: ${result.status} ${result.body}`);
    return result;
  }

  /** Connects, says hello and waits for the welcome. */
  static async admitted(baseUrl: string, options: ConnectOptions & { workerId: string }, specs: Specs = SPECS): Promise<RawAgent> {
    const agent = await RawAgent.open(baseUrl, options);
    await agent.hello(options.workerId, specs);
    return agent;
  }

  static async refused(baseUrl: string, options: ConnectOptions): Promise<Refused> {
    const result = await RawAgent.connect(baseUrl, options);
    if (result instanceof RawAgent) {
      result.ws.terminate();
      throw new Error('expected a refusal, got admitted');
    }
    return result;
  }

  next<T extends MasterMessage['type']>(type: T): Promise<Extract<MasterMessage, { type: T }>> {
    return new Promise((resolve) => {
      this.#waiters.push({ type, resolve: resolve as (m: MasterMessage) => void });
    });
  }

  send(message: AgentMessage): void {
    this.ws.send(encode(message));
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  async hello(workerId: string, specs: Specs = SPECS): Promise<Welcome> {
    const welcome = this.next('welcome');
    this.send({ type: 'hello', protocol_version: PROTOCOL_VERSION, worker_id: workerId, agent_version: 'raw-test', specs });
    return welcome;
  }

  /** Sends one heartbeat and waits for its ack. */
  async heartbeat(): Promise<number> {
    const seq = ++this.#seq;
    const ack = this.next('ack');
    this.send({ type: 'heartbeat', seq });
    return (await ack).seq;
  }

  /** Beats every intervalMs without waiting for acks (like an agent's timer). */
  startBeating(intervalMs: number): void {
    this.stopBeating();
    this.#beat = setInterval(() => {
      if (this.ws.readyState === WebSocket.OPEN) this.send({ type: 'heartbeat', seq: ++this.#seq });
    }, intervalMs);
  }

  stopBeating(): void {
    if (this.#beat !== undefined) clearInterval(this.#beat);
    this.#beat = undefined;
  }

  /** A clean goodbye: close frame with `code`, waits for the socket to close. */
  async close(code = 1000, reason = 'bye'): Promise<Closed> {
    this.stopBeating();
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
    return this.closed;
  }

  /** Like SIGKILL or a cut cable: the socket goes away without a close frame. */
  destroy(): void {
    this.stopBeating();
    this.ws.terminate();
  }

  /** Stops sending anything (a SIGSTOPped agent); with autoPong false it answers no pings either. */
  freeze(): void {
    this.stopBeating();
  }
}

export function isRefused(result: RawAgent | Refused): result is Refused {
  return !(result instanceof RawAgent);
}

/** Resolves when the socket emits 'ping' (the master checks a quiet socket). */
export async function nextPing(agent: RawAgent): Promise<void> {
  await once(agent.ws, 'ping');
}
