import type { IncomingMessage } from 'node:http';
import {
  CloseCode,
  DEFAULTS,
  encode,
  parseMasterMessage,
  sameSpecs,
  type AgentMessage,
  type Hardware,
  type ProtocolVersion,
  type Specs,
  type Welcome,
} from '@cluster/protocol/agent-side';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import type { Timers } from '../timers.js';
import { masterSilenceLimitMs, parseRetryAfterMs } from './backoff.js';
import type { ConnectionEnd } from './end-report.js';
import { readRefusalBody, sanitizeReason } from './refusal.js';

/** What one connection needs from its session. */
export interface ConnectionDeps {
  workerId: string;
  agentVersion: string;
  /** The version asked for at the upgrade: the hello's, and the one the welcome must name. */
  protocolVersion: ProtocolVersion;
  /** The latest specs, read when the hello is sent and again at the welcome. */
  specs: () => Specs;
  /** The latest inventory (sent from protocol version 2 on), read like the specs. */
  hardware: () => Hardware | undefined;
  url: string;
  logger: Logger;
  timers: Timers;
  now: () => number;
  welcomeTimeoutMs: number;
  closeTimeoutMs: number;
}

/** What a connection tells its session. */
export interface ConnectionEvents {
  /** The master's first welcome: the worker is admitted. */
  admitted(): void;
  /** The socket is gone, for whatever reason; what happened, for the session's report and retry. */
  ended(end: ConnectionEnd & { welcomed: boolean; localAddress: string | undefined }): void;
}

/**
 * One WebSocket to one master, from the upgrade to the socket's end: the
 * hello, the welcome, heartbeats at the master's interval, a watch on the
 * master's silence, and what was learned when it ended (a refusal, a drop by
 * this side, an error). Retrying is the session's business, not this one's.
 */
export class MasterConnection {
  readonly #ws: WebSocket;
  readonly #deps: ConnectionDeps;
  readonly #events: ConnectionEvents;
  /** Timers and messages stop counting once the session has begun its goodbye. */
  #closing = false;
  #opened = false;
  #welcomedAt: number | undefined;
  #helloSpecs: Specs | undefined;
  #helloHardware: Hardware | undefined;
  #refusal: { status: number; reason: string; retryAfterMs?: number | undefined } | undefined;
  /** Set when this side ended the connection (bad message, silent master, no welcome). */
  #droppedBecause: string | undefined;
  #error: { code?: string | undefined; message: string } | undefined;
  /** This machine's address on the connection, for advice. */
  #localAddress: string | undefined;
  #seq = 0;
  #intervalMs: number = DEFAULTS.heartbeatIntervalMs;
  #silenceLimitMs = masterSilenceLimitMs(DEFAULTS.heartbeatIntervalMs, DEFAULTS.heartbeatTimeoutMs);
  #welcomeTimer: unknown;
  /** The welcome timer fired: the last look for a welcome already in the socket buffer (see the constructor). */
  #welcomeRecheck: NodeJS.Immediate | undefined;
  #heartbeatTimer: unknown;
  #silenceTimer: unknown;
  /** Bounds a close handshake this side started; then the socket is dropped. */
  #closeTimer: unknown;
  #gone: (() => void) | undefined;

  constructor(ws: WebSocket, deps: ConnectionDeps, events: ConnectionEvents) {
    this.#ws = ws;
    this.#deps = deps;
    this.#events = events;
    this.#welcomeTimer = deps.timers.setTimeout(() => {
      this.#welcomeTimer = undefined;
      // Node runs due timers before it reads sockets: on a busy event loop the welcome (or the 101)
      // may already wait in the socket buffer when this fires. Give up only after one more read of
      // the sockets (setImmediate runs after the poll phase), so an admission the master already
      // made is not thrown away and paid for again.
      this.#welcomeRecheck = setImmediate(() => {
        this.#welcomeRecheck = undefined;
        if (this.#welcomedAt === undefined) this.#drop(`no welcome from the master within ${deps.welcomeTimeoutMs} ms`, 'no-welcome');
      });
    }, deps.welcomeTimeoutMs);
    ws.on('open', () => this.#onOpen());
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('ping', () => this.#heard());
    ws.on('pong', () => this.#heard());
    ws.on('unexpected-response', (_req, res) => this.#onRefused(res));
    ws.on('upgrade', (res) => {
      this.#localAddress = res.socket.localAddress;
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      this.#error ??= { code: err.code, message: err.message };
    });
    ws.on('close', (code, reason) => this.#onClose(code, sanitizeReason(reason.toString('utf8'))));
  }

  get admitted(): boolean {
    return this.#welcomedAt !== undefined && !this.#closing;
  }

  /** Sends changed specs (and inventory) if admitted; false otherwise (the next hello carries them). */
  sendSpecs(specs: Specs, hardware?: Hardware): boolean {
    if (!this.admitted) return false;
    this.#sendSpecs(specs, hardware);
    return true;
  }

  /**
   * The session is ending: a clean close (1000) if the socket is open, bounded
   * by closeTimeoutMs; otherwise (not admitted yet) the socket is just dropped,
   * as there is no session to say goodbye to. Resolves when the socket is gone.
   */
  goodbye(): Promise<void> {
    this.#closing = true;
    this.#clearTimers();
    const gone = new Promise<void>((resolve) => {
      this.#gone = resolve;
    });
    if (this.#ws.readyState === WebSocket.OPEN) {
      this.#ws.close(CloseCode.normal, 'agent shutting down');
      const force = this.#deps.timers.setTimeout(() => this.#ws.terminate(), this.#deps.closeTimeoutMs);
      return gone.then(() => this.#deps.timers.clearTimeout(force));
    }
    this.#ws.terminate();
    return gone;
  }

  #send(message: AgentMessage): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(encode(message));
  }

  #sendSpecs(specs: Specs, hardware: Hardware | undefined): void {
    // Version 1 has no inventory: a master of that version would refuse the field.
    this.#send(this.#deps.protocolVersion >= 2 && hardware !== undefined ? { type: 'specs', specs, hardware } : { type: 'specs', specs });
    this.#deps.logger.info({ event: 'specs-sent', specs }, 'sent changed specs to the master');
  }

  #onOpen(): void {
    if (this.#closing) return;
    this.#opened = true;
    this.#deps.logger.info({ event: 'connected', url: this.#deps.url }, 'connected to the master; sending hello');
    this.#helloSpecs = this.#deps.specs();
    this.#helloHardware = this.#deps.hardware();
    const hello = { type: 'hello', worker_id: this.#deps.workerId, agent_version: this.#deps.agentVersion, specs: this.#helloSpecs } as const;
    this.#send(
      this.#deps.protocolVersion === 1
        ? { ...hello, protocol_version: 1 }
        : { ...hello, protocol_version: 2, ...(this.#helloHardware === undefined ? {} : { hardware: this.#helloHardware }) },
    );
  }

  #onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.#closing) return;
    const parsed = parseMasterMessage(data, isBinary);
    if (!parsed.ok) {
      this.#deps.logger.error({ event: 'bad-message', code: parsed.code, reason: parsed.reason }, 'the master sent a message this agent cannot read; reconnecting');
      this.#droppedBecause = `bad message from the master (${parsed.reason})`;
      this.#clearTimers();
      this.#ws.close(parsed.code, parsed.reason);
      this.#closeTimer = this.#deps.timers.setTimeout(() => this.#ws.terminate(), this.#deps.closeTimeoutMs);
      return;
    }
    this.#heard();
    const message = parsed.message;
    switch (message.type) {
      case 'welcome':
        this.#onWelcome(message);
        break;
      case 'ack':
        // Liveness is all an ack carries; #heard() has taken it.
        break;
    }
  }

  #onWelcome(welcome: Welcome): void {
    const { timers, logger } = this.#deps;
    if (welcome.protocol_version !== this.#deps.protocolVersion) {
      this.#deps.logger.error({ event: 'bad-message', reason: 'welcome of another protocol version' }, 'the master answered in another protocol version; reconnecting');
      this.#droppedBecause = `the master answered protocol version ${welcome.protocol_version} to a hello of version ${this.#deps.protocolVersion}`;
      this.#clearTimers();
      this.#ws.close(CloseCode.badMessage, 'welcome of another protocol version');
      this.#closeTimer = this.#deps.timers.setTimeout(() => this.#ws.terminate(), this.#deps.closeTimeoutMs);
      return;
    }
    timers.clearTimeout(this.#welcomeTimer);
    this.#welcomeTimer = undefined;
    clearImmediate(this.#welcomeRecheck);
    this.#welcomeRecheck = undefined;
    this.#intervalMs = welcome.heartbeat_interval_ms;
    this.#silenceLimitMs = masterSilenceLimitMs(welcome.heartbeat_interval_ms, welcome.heartbeat_timeout_ms);
    const first = this.#welcomedAt === undefined;
    this.#welcomedAt ??= this.#deps.now();
    if (first) {
      this.#events.admitted();
      logger.info(
        { event: 'admitted', heartbeat_interval_ms: this.#intervalMs, heartbeat_timeout_ms: welcome.heartbeat_timeout_ms },
        `admitted by the master; heartbeat every ${this.#intervalMs} ms`,
      );
      const latest = this.#deps.specs();
      const latestHardware = this.#deps.hardware();
      const hardwareChanged = JSON.stringify(latestHardware) !== JSON.stringify(this.#helloHardware);
      if (this.#helloSpecs && (!sameSpecs(latest, this.#helloSpecs) || hardwareChanged)) this.#sendSpecs(latest, latestHardware);
    }
    this.#heard();
    timers.clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = timers.setTimeout(() => this.#beat(), this.#intervalMs);
  }

  #beat(): void {
    if (!this.admitted) return;
    this.#seq += 1;
    this.#send({ type: 'heartbeat', seq: this.#seq });
    this.#heartbeatTimer = this.#deps.timers.setTimeout(() => this.#beat(), this.#intervalMs);
  }

  /** Anything from the master after its welcome proves it is alive. */
  #heard(): void {
    if (!this.admitted) return;
    const { timers } = this.#deps;
    timers.clearTimeout(this.#silenceTimer);
    this.#silenceTimer = timers.setTimeout(() => {
      this.#silenceTimer = undefined;
      this.#drop(`nothing from the master for ${this.#silenceLimitMs} ms (no ack, no pong)`, 'master-silent');
    }, this.#silenceLimitMs);
  }

  /** Ends a connection this side gave up on, without waiting for TCP to notice. */
  #drop(why: string, event: string): void {
    if (this.#closing) return;
    this.#deps.logger.warn({ event }, `${why}; dropping the connection`);
    this.#droppedBecause = why;
    this.#clearTimers();
    this.#ws.terminate();
  }

  #onRefused(res: IncomingMessage): void {
    const status = res.statusCode ?? 0;
    const retryAfterMs = parseRetryAfterMs(res.headers['retry-after']);
    this.#localAddress = res.socket.localAddress;
    void readRefusalBody(res, this.#deps.timers).then((reason) => {
      this.#refusal = retryAfterMs === undefined ? { status, reason } : { status, reason, retryAfterMs };
      this.#ws.terminate();
    });
  }

  #onClose(code: number, reason: string): void {
    this.#clearTimers();
    if (this.#closing) {
      this.#gone?.();
      return;
    }
    this.#events.ended({
      refusal: this.#refusal,
      droppedBecause: this.#droppedBecause,
      opened: this.#opened,
      error: this.#error,
      code,
      reason,
      connectedMs: this.#welcomedAt === undefined ? 0 : Math.round(this.#deps.now() - this.#welcomedAt),
      welcomed: this.#welcomedAt !== undefined,
      localAddress: this.#localAddress,
    });
  }

  #clearTimers(): void {
    const { timers } = this.#deps;
    for (const t of [this.#welcomeTimer, this.#heartbeatTimer, this.#silenceTimer, this.#closeTimer]) if (t !== undefined) timers.clearTimeout(t);
    this.#welcomeTimer = this.#heartbeatTimer = this.#silenceTimer = this.#closeTimer = undefined;
    clearImmediate(this.#welcomeRecheck);
    this.#welcomeRecheck = undefined;
  }
}
