import {
  CloseCode,
  PROTOCOL_VERSION,
  closeCodeName,
  type Hardware,
  type ProtocolVersion,
  encode,
  parseAgentMessage,
  type Heartbeat,
  type Hello,
  type MasterMessage,
  type Specs,
} from '@cluster/protocol';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import type { MasterMetrics } from '../../metrics/metrics.js';
import type { Clock, Timer } from '../clock.js';
import { otherHelloVersion } from './hello-version.js';
import { TokenBucket } from './rate-limit.js';

/** Why the master ended a session (absent when the agent or the network did). */
export type SessionEndCause =
  | 'replaced'
  | 'shutdown'
  | 'unregistered'
  | 'unauthorized'
  | 'address_changed'
  | 'protocol'
  | 'hello_timeout'
  | 'heartbeat_timeout'
  | 'no_pong'
  | 'backpressure';

export interface SessionClosed {
  code: number;
  reason: string;
  /** Set when the master ended the session; undefined when the agent or the network did. */
  cause: SessionEndCause | undefined;
}

/** What a session reports to; implemented by SessionHost. */
export interface SessionEvents {
  onHello(session: AgentSession, hello: Hello): void;
  onHeartbeat(session: AgentSession, heartbeat: Heartbeat): void;
  /** `hardware` is undefined for agents of protocol version 1 and when the agent could not measure it. */
  onSpecs(session: AgentSession, specs: Specs, hardware: Hardware | undefined): void;
  onClosed(session: AgentSession, closed: SessionClosed): void;
}

export interface SessionOptions {
  helloTimeoutMs: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  maxMessageBytes: number;
  rateLimitBurst: number;
  rateLimitPerSecond: number;
  /** How long a close handshake may take before the socket is destroyed. */
  closeGraceMs: number;
  /** A peer that does not read what we send is dropped above this many buffered bytes. */
  maxBufferedBytes: number;
}

export interface AdmittedPeer {
  workerId: string;
  address: string;
  tokenHash: string;
  /** The registered worker_ip at admission (absent in tests that do not care). */
  workerIp?: string;
  viewSeq: number;
  /** The version admitted at the upgrade (default: the newest); decides the schemas of every message. */
  protocolVersion?: ProtocolVersion;
}

export type SessionState = 'awaiting-hello' | 'active' | 'closing' | 'closed';

/**
 * One agent connection after a successful upgrade: waits for the hello,
 * parses every frame once, enforces the per-connection rate limit, answers
 * hello with welcome and heartbeats with ack, and reports to SessionEvents.
 */
export class AgentSession {
  readonly workerId: string;
  readonly address: string;
  readonly tokenHash: string;
  readonly workerIp: string | undefined;
  readonly viewSeq: number;
  readonly protocolVersion: ProtocolVersion;
  /** Whether this is its worker's current session: SessionTable's to write (session-table.ts). */
  current = false;
  /** The liveness tracker's to write (liveness/rules.ts): its worker's last-seen time while this is the current session. */
  livenessSeenAtMs: number | undefined = undefined;
  #state: SessionState = 'awaiting-hello';
  #cause: SessionEndCause | undefined;
  #lastActivityMs: number;
  #pingSentAtMs: number | undefined;
  #helloTimer: Timer | undefined;
  #closeTimer: Timer | undefined;
  readonly #bucket: TokenBucket;
  /** The session's own logger, made at its first line: most sessions never log (pino's child was ~0.4 KB and ~14 µs each). */
  #childLog: Logger | undefined;
  readonly #closed: Promise<void>;

  constructor(
    private readonly ws: WebSocket,
    peer: AdmittedPeer,
    private readonly events: SessionEvents,
    private readonly deps: { clock: Clock; logger: Logger; metrics: MasterMetrics },
    private readonly options: SessionOptions,
  ) {
    this.workerId = peer.workerId;
    this.address = peer.address;
    this.tokenHash = peer.tokenHash;
    this.workerIp = peer.workerIp;
    this.viewSeq = peer.viewSeq;
    this.protocolVersion = peer.protocolVersion ?? PROTOCOL_VERSION;
    this.#lastActivityMs = deps.clock.monotonic();
    this.#bucket = new TokenBucket(options.rateLimitBurst, options.rateLimitPerSecond, this.#lastActivityMs);
    this.#closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.#onClose(code, reason.toString('utf8'));
        resolve();
      });
    });
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    // Control frames share the message budget: ws answers every ping with a pong, and a peer that
    // pings without reading would otherwise fill our send buffer (an agent never pings; it answers
    // ours, at most one per 1.5 heartbeat intervals).
    ws.on('ping', () => this.#takeToken('too many pings', deps.clock.monotonic()));
    ws.on('pong', () => {
      if (!this.#takeToken('too many pongs', deps.clock.monotonic())) return;
      this.#pingSentAtMs = undefined;
    });
    ws.on('error', (error: Error & { code?: string }) => this.#onError(error));
    this.#helloTimer = deps.clock.setTimeout(() => {
      this.#protocolError(CloseCode.heartbeatTimeout, 'no hello in time', 'hello_timeout');
    }, options.helloTimeoutMs);
  }

  get #log(): Logger {
    this.#childLog ??= this.deps.logger.child({ worker_id: this.workerId, address: this.address });
    return this.#childLog;
  }

  get lastActivityMs(): number {
    return this.#lastActivityMs;
  }

  get pingSentAtMs(): number | undefined {
    return this.#pingSentAtMs;
  }

  /** Resolves when the socket has closed. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Starts a close handshake; the socket is destroyed if it does not finish within closeGraceMs. */
  close(code: number, reason: string, cause: SessionEndCause): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#state = 'closing';
    this.#cause = cause;
    this.#clearHelloTimer();
    this.ws.close(code, reason);
    this.#closeTimer = this.deps.clock.setTimeout(() => this.ws.terminate(), this.options.closeGraceMs);
  }

  /** Drops the connection without a handshake (hung or dead peer). */
  terminate(cause: SessionEndCause): void {
    if (this.#state === 'closed') return;
    this.#cause ??= cause;
    this.#state = 'closing';
    this.ws.terminate();
  }

  ping(): void {
    if (this.#state !== 'active') return;
    this.#pingSentAtMs = this.deps.clock.monotonic();
    this.ws.ping();
  }

  #send(message: MasterMessage): void {
    if (this.ws.bufferedAmount > this.options.maxBufferedBytes) {
      this.#log.warn({ buffered: this.ws.bufferedAmount }, 'agent does not read; dropping the connection');
      this.terminate('backpressure');
      return;
    }
    this.ws.send(encode(message));
  }

  /** False (and the session closing 4429) when the peer is over its rate limit or the session is ending. */
  #takeToken(reason: string, nowMs: number): boolean {
    if (this.#state !== 'awaiting-hello' && this.#state !== 'active') return false;
    if (this.#bucket.take(nowMs)) return true;
    this.#protocolError(CloseCode.tooManyMessages, reason, 'protocol');
    return false;
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    // One clock read per message: the rate limit, the quiet time and (through lastActivityMs) the liveness tracker.
    const nowMs = this.deps.clock.monotonic();
    if (!this.#takeToken('too many messages', nowMs)) return;
    const parsed = parseAgentMessage(data, isBinary, this.options.maxMessageBytes, this.protocolVersion);
    if (!parsed.ok) {
      const otherVersion =
        this.#state === 'awaiting-hello' &&
        parsed.code === CloseCode.badMessage &&
        otherHelloVersion(data, isBinary, this.protocolVersion) !== undefined;
      if (otherVersion) {
        // The hello must speak the version its upgrade asked for.
        this.#protocolError(CloseCode.unsupportedVersion, `protocol version ${this.protocolVersion} required`, 'protocol');
        return;
      }
      this.#protocolError(parsed.code, parsed.reason, 'protocol');
      return;
    }
    this.#lastActivityMs = nowMs;
    this.#pingSentAtMs = undefined;
    const message = parsed.message;
    switch (message.type) {
      case 'hello':
        this.#onHello(message);
        return;
      case 'heartbeat':
        if (this.#state !== 'active') {
          this.#protocolError(CloseCode.badMessage, 'heartbeat before hello', 'protocol');
          return;
        }
        this.events.onHeartbeat(this, message);
        // The seq is echoed for whoever pairs acks with beats (see the protocol); nothing here reads it.
        this.#send({ type: 'ack', seq: message.seq });
        return;
      case 'specs':
        if (this.#state !== 'active') {
          this.#protocolError(CloseCode.badMessage, 'specs before hello', 'protocol');
          return;
        }
        this.events.onSpecs(this, message.specs, 'hardware' in message ? message.hardware : undefined);
        return;
    }
  }

  #onHello(hello: Hello): void {
    if (this.#state !== 'awaiting-hello') {
      this.#protocolError(CloseCode.badMessage, 'second hello', 'protocol');
      return;
    }
    if (hello.worker_id !== this.workerId) {
      this.#protocolError(CloseCode.badMessage, 'hello worker_id differs from x-worker-id', 'protocol');
      return;
    }
    this.#clearHelloTimer();
    this.#state = 'active';
    this.#send({
      type: 'welcome',
      protocol_version: this.protocolVersion,
      heartbeat_interval_ms: this.options.heartbeatIntervalMs,
      heartbeat_timeout_ms: this.options.heartbeatTimeoutMs,
    });
    this.events.onHello(this, hello);
  }

  #protocolError(code: number, reason: string, cause: SessionEndCause): void {
    this.deps.metrics.protocolErrors.inc({ code: String(code) });
    this.#log.warn({ code, close: closeCodeName(code), reason }, 'protocol error; closing');
    this.close(code, reason, cause);
  }

  #onError(error: Error & { code?: string }): void {
    // ws already answered a frame it could not accept (too big, bad UTF-8, …) with its own close frame.
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.deps.metrics.protocolErrors.inc({ code: String(CloseCode.messageTooBig) });
    }
    this.#cause ??= 'protocol';
    if (this.#state === 'awaiting-hello' || this.#state === 'active') this.#state = 'closing';
    this.#log.warn({ error: { message: error.message, code: error.code } }, 'websocket error');
  }

  #onClose(code: number, reason: string): void {
    this.#state = 'closed';
    this.#clearHelloTimer();
    this.deps.clock.clearTimeout(this.#closeTimer);
    this.events.onClosed(this, { code, reason, cause: this.#cause });
  }

  #clearHelloTimer(): void {
    this.deps.clock.clearTimeout(this.#helloTimer);
    this.#helloTimer = undefined;
  }
}
