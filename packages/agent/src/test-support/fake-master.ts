import { once } from 'node:events';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { DEFAULTS, PROTOCOL_VERSION } from '@cluster/protocol';
import { WebSocketServer, type WebSocket } from 'ws';

/** A queue that hands out items in order, waiting for ones not yet there. */
class Queue<T> {
  private items: T[] = [];
  private waiters: ((item: T) => void)[] = [];
  readonly all: T[] = [];
  push(item: T): void {
    this.all.push(item);
    const w = this.waiters.shift();
    if (w) w(item);
    else this.items.push(item);
  }
  next(): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  get pending(): number {
    return this.items.length;
  }
}

export interface MasterConnection {
  ws: WebSocket;
  req: IncomingMessage;
  received: unknown[];
  nextMessage(): Promise<unknown>;
  send(message: unknown): void;
  welcome(intervalMs: number, timeoutMs: number): void;
  /** Resolves once every frame the agent sent before now has arrived (a ping/pong round trip). */
  flush(): Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
}

export interface Refusal {
  status: number;
  reason: string;
  /** Extra response headers (e.g. Retry-After). */
  headers?: Record<string, string>;
}

/**
 * A stand-in for cluster-master's agent endpoint on a real socket (port 0):
 * admission at the HTTP upgrade, then whatever the test scripts.
 */
export interface FakeMaster extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  /** Upgrade requests seen, admitted or not. */
  readonly upgrades: IncomingMessage[];
  /** Set to refuse upgrades. */
  refuse: Refusal | undefined;
  /** Answer each heartbeat with an ack. */
  autoAck: boolean;
  /** The protocol versions it admits (x-protocol-version); others are refused 426 like a master of that release. Default: any. */
  protocolVersions: number[] | undefined;
  nextConnection(): Promise<MasterConnection>;
  /** Stops listening and drops every connection (the master process died). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeMaster(options: { autoPong?: boolean; path?: string; tls?: { key: Buffer; cert: Buffer } } = {}): Promise<FakeMaster> {
  const path = options.path ?? DEFAULTS.agentPath;
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: DEFAULTS.maxMessageBytes,
    autoPong: options.autoPong ?? true,
  });
  const connections = new Queue<MasterConnection>();
  const upgrades: IncomingMessage[] = [];
  const sockets = new Set<Socket>();
  const onRequest = (_req: IncomingMessage, res: http.ServerResponse) => {
    res.statusCode = 426;
    res.end('upgrade required');
  };
  const server = options.tls ? https.createServer(options.tls, onRequest) : http.createServer(onRequest);
  server.on(options.tls ? 'secureConnection' : 'connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });

  const master: FakeMaster = {
    url: '',
    port: 0,
    upgrades,
    refuse: undefined,
    autoAck: false,
    protocolVersions: undefined,
    nextConnection: () => connections.next(),
    async stop() {
      const closed = once(server, 'close');
      server.close();
      for (const client of wss.clients) client.terminate();
      for (const s of sockets) s.destroy();
      await closed;
    },
    async resume() {
      server.listen(master.port, '127.0.0.1');
      await once(server, 'listening');
    },
    async close() {
      if (server.listening) await master.stop();
      wss.close();
    },
    [Symbol.asyncDispose]: () => master.close(),
  };

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push(req);
    const asked = Number(req.headers['x-protocol-version']);
    const versionRefusal =
      master.protocolVersions === undefined || master.protocolVersions.includes(asked)
        ? undefined
        : { status: 426, reason: `protocol version ${master.protocolVersions.join(' or ')} required` };
    const refusal =
      master.refuse ?? versionRefusal ?? (new URL(req.url ?? '/', 'http://x').pathname === path ? undefined : { status: 404, reason: 'no such endpoint' });
    if (refusal) {
      const body = refusal.reason;
      socket.end(
        `HTTP/1.1 ${refusal.status} ${http.STATUS_CODES[refusal.status] ?? 'Refused'}\r\n` +
          Object.entries(('headers' in refusal ? refusal.headers : undefined) ?? {})
            .map(([name, value]) => `${name}: ${value}\r\n`)
            .join('') +
          `Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const messages = new Queue<unknown>();
      ws.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString('utf8')) as { type?: string; seq?: number };
        messages.push(message);
        if (master.autoAck && message.type === 'heartbeat') ws.send(JSON.stringify({ type: 'ack', seq: message.seq }));
      });
      const closed = new Promise<{ code: number; reason: string }>((resolve) => {
        ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      });
      connections.push({
        ws,
        req,
        received: messages.all,
        nextMessage: () => messages.next(),
        send: (m) => ws.send(typeof m === 'string' ? m : JSON.stringify(m)),
        welcome: (intervalMs, timeoutMs) =>
          ws.send(
            JSON.stringify({
              type: 'welcome',
              // A master answers in the version the agent asked for.
              protocol_version: Number.isSafeInteger(asked) && asked > 0 ? asked : PROTOCOL_VERSION,
              heartbeat_interval_ms: intervalMs,
              heartbeat_timeout_ms: timeoutMs,
            }),
          ),
        flush: async () => {
          const pong = once(ws, 'pong');
          ws.ping();
          await pong;
        },
        closed,
      });
    });
  });

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  Object.assign(master, { port, url: `${options.tls ? 'wss' : 'ws'}://127.0.0.1:${port}` });
  return master;
}
