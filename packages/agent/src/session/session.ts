import type { IncomingMessage } from 'node:http';
import {
  CloseCode,
  DEFAULTS,
  HEADERS,
  PROTOCOL_VERSION,
  bearer,
  encode,
  parseMasterMessage,
  sameSpecs,
  type AgentMessage,
  type Specs,
  type Welcome,
} from '@cluster/protocol';
import type { Logger } from 'pino';
import WebSocket, { type ClientOptions } from 'ws';
import { realTimers, type Timers } from '../timers.js';
import { fixedToken, type TokenSource } from '../token.js';
import { masterSilenceLimitMs, type RetryOptions } from './backoff.js';
import { adviceForToken, type AdviceContext } from './advice.js';
import { reportEnd } from './end-report.js';
import { createMasterRounds, type EndForRounds } from './rounds.js';
import { readRefusalBody, sanitizeReason } from './refusal.js';

/**
 * idle → connecting → open → waiting → connecting … ; close() from any state
 * → closing → closed. "connecting" lasts until the master's welcome: the
 * upgrade, the hello and the welcome all happen in it.
 */
export type SessionState = 'idle' | 'connecting' | 'open' | 'waiting' | 'closing' | 'closed';

export type Connect = (url: string, options: ClientOptions) => WebSocket;

export interface SessionOptions {
  /**
   * Full `ws://` or `wss://` URL of the master's agent endpoint, or several
   * masters' (on one database): see rounds.ts for the order they are tried in.
   */
  url: string | readonly string[];
  workerId: string;
  /**
   * The worker's credential, sent in the Authorization header, never logged.
   * A TokenSource is read before every attempt (a token file an admin fixed
   * takes effect at the next retry).
   */
  token: string | TokenSource;
  /** Extra CA certificates (PEM) to trust for `wss://`. */
  ca?: Buffer | string;
  agentVersion: string;
  /** The latest specs, read when a hello is sent. */
  specs: () => Specs;
  logger: Logger;
  connect?: Connect;
  timers?: Timers;
  now?: () => number;
  random?: () => number;
  reconnectBaseMs?: number;
  reconnectCapMs?: number;
  refusedRetryMs?: number;
  stableConnectionMs?: number;
  /** From starting a connection to the master's welcome (TCP, TLS, upgrade, hello). */
  welcomeTimeoutMs?: number;
  /** How long a clean close waits for the master's close frame before dropping the socket. */
  closeTimeoutMs?: number;
}

export interface Session {
  readonly state: SessionState;
  start(): void;
  /** Sends changed specs if the session is open; otherwise the next hello carries them. */
  sendSpecs(specs: Specs): boolean;
  /** Sends a clean close (1000) and stops reconnecting. Idempotent: returns the same promise. */
  close(): Promise<void>;
}

export const DEFAULT_CLOSE_TIMEOUT_MS = 1_000;

interface Connection {
  ws: WebSocket;
  opened: boolean;
  welcomedAt: number | undefined;
  helloSpecs: Specs | undefined;
  refusal: { status: number; reason: string } | undefined;
  /** Set when this side ended the connection (bad message, silent master, no welcome). */
  droppedBecause: string | undefined;
  error: { code?: string | undefined; message: string } | undefined;
  /** This machine's address on the connection, for advice. */
  localAddress: string | undefined;
  seq: number;
  intervalMs: number;
  silenceLimitMs: number;
  welcomeTimer: unknown;
  heartbeatTimer: unknown;
  silenceTimer: unknown;
  /** Bounds a close handshake this side started; then the socket is dropped. */
  closeTimer: unknown;
}

export function createSession(options: SessionOptions): Session {
  const timers = options.timers ?? realTimers;
  const now = options.now ?? (() => performance.now());
  const random = options.random ?? Math.random;
  const connectFn: Connect = options.connect ?? ((url, opts) => new WebSocket(url, opts));
  const retry: RetryOptions = {
    baseMs: options.reconnectBaseMs ?? DEFAULTS.reconnectBaseMs,
    capMs: options.reconnectCapMs ?? DEFAULTS.reconnectCapMs,
    refusedRetryMs: options.refusedRetryMs ?? DEFAULTS.refusedRetryMs,
    stableConnectionMs: options.stableConnectionMs ?? DEFAULTS.stableConnectionMs,
  };
  const welcomeTimeoutMs = options.welcomeTimeoutMs ?? DEFAULTS.helloTimeoutMs;
  const closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
  const log = options.logger;
  const rounds = createMasterRounds(typeof options.url === 'string' ? [options.url] : options.url, retry, random);
  const tokenSource: TokenSource = typeof options.token === 'string' ? fixedToken(options.token, 'the agent configuration') : options.token;
  const adviceContext = (localAddress: string | undefined): AdviceContext => ({ workerId: options.workerId, token: tokenSource, url: safeUrl(rounds.url), localAddress });

  let state: SessionState = 'idle';
  let current: Connection | undefined;
  let retryTimer: unknown;
  let closing: Promise<void> | undefined;
  let onSocketGone: (() => void) | undefined;

  function connect(): void {
    state = 'connecting';
    log.debug({ event: 'connecting', url: safeUrl(rounds.url) }, 'connecting to the master');
    let token: string | Promise<string>;
    try {
      token = tokenSource.read();
    } catch (err) {
      tokenUnreadable(err);
      return;
    }
    if (typeof token === 'string') {
      open(token);
      return;
    }
    token.then(
      (t) => {
        // close() may have come while the file was read.
        if (state === 'connecting' && current === undefined) open(t);
      },
      (err: unknown) => {
        if (state === 'connecting') tokenUnreadable(err);
      },
    );
  }

  /** The token file cannot be used (gone, empty, malformed): only an admin can fix it, so retry slowly. */
  function tokenUnreadable(err: unknown): void {
    log.error(
      { event: 'token-unreadable', error: errorText(err), advice: adviceForToken(adviceContext(undefined)) },
      `cannot use the token: ${errorText(err)}`,
    );
    scheduleRetry({ reaction: 'retry-slowly', welcomed: false, connectedMs: 0, shuttingDown: false });
  }

  function open(token: string): void {
    let ws: WebSocket;
    try {
      ws = connectFn(rounds.url, {
        headers: {
          [HEADERS.workerId]: options.workerId,
          [HEADERS.protocolVersion]: String(PROTOCOL_VERSION),
          [HEADERS.authorization]: bearer(token),
        },
        perMessageDeflate: false,
        maxPayload: DEFAULTS.maxMessageBytes,
        followRedirects: false,
        ...(options.ca === undefined ? {} : { ca: options.ca }),
      });
    } catch (err) {
      log.error({ event: 'connect-failed', error: errorText(err) }, 'cannot start a connection to the master');
      scheduleRetry({ reaction: 'retry', welcomed: false, connectedMs: 0, shuttingDown: false });
      return;
    }
    const c: Connection = {
      ws,
      opened: false,
      welcomedAt: undefined,
      helloSpecs: undefined,
      refusal: undefined,
      droppedBecause: undefined,
      error: undefined,
      localAddress: undefined,
      seq: 0,
      intervalMs: DEFAULTS.heartbeatIntervalMs,
      silenceLimitMs: masterSilenceLimitMs(DEFAULTS.heartbeatIntervalMs, DEFAULTS.heartbeatTimeoutMs),
      welcomeTimer: undefined,
      heartbeatTimer: undefined,
      silenceTimer: undefined,
      closeTimer: undefined,
    };
    current = c;
    c.welcomeTimer = timers.setTimeout(() => {
      c.welcomeTimer = undefined;
      drop(c, `no welcome from the master within ${welcomeTimeoutMs} ms`, 'no-welcome');
    }, welcomeTimeoutMs);

    ws.on('open', () => onOpen(c));
    ws.on('message', (data, isBinary) => onMessage(c, data, isBinary));
    ws.on('ping', () => heard(c));
    ws.on('pong', () => heard(c));
    ws.on('unexpected-response', (_req, res) => onRefused(c, res));
    ws.on('upgrade', (res) => {
      c.localAddress = res.socket.localAddress;
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      c.error ??= { code: err.code, message: err.message };
    });
    ws.on('close', (code, reason) => onClose(c, code, sanitizeReason(reason.toString('utf8'))));
  }

  function send(c: Connection, message: AgentMessage): void {
    if (c.ws.readyState === WebSocket.OPEN) c.ws.send(encode(message));
  }

  function onOpen(c: Connection): void {
    if (c !== current || state !== 'connecting') return;
    c.opened = true;
    log.info({ event: 'connected', url: safeUrl(rounds.url) }, 'connected to the master; sending hello');
    c.helloSpecs = options.specs();
    send(c, {
      type: 'hello',
      protocol_version: PROTOCOL_VERSION,
      worker_id: options.workerId,
      agent_version: options.agentVersion,
      specs: c.helloSpecs,
    });
  }

  function onMessage(c: Connection, data: WebSocket.RawData, isBinary: boolean): void {
    if (c !== current || state === 'closing') return;
    const parsed = parseMasterMessage(data, isBinary);
    if (!parsed.ok) {
      log.error({ event: 'bad-message', code: parsed.code, reason: parsed.reason }, 'the master sent a message this agent cannot read; reconnecting');
      c.droppedBecause = `bad message from the master (${parsed.reason})`;
      clearTimers(c);
      c.ws.close(parsed.code, parsed.reason);
      c.closeTimer = timers.setTimeout(() => c.ws.terminate(), closeTimeoutMs);
      return;
    }
    heard(c);
    const message = parsed.message;
    switch (message.type) {
      case 'welcome':
        onWelcome(c, message);
        break;
      case 'ack':
        // Liveness is all an ack carries; heard() has taken it.
        break;
    }
  }

  function onWelcome(c: Connection, welcome: Welcome): void {
    timers.clearTimeout(c.welcomeTimer);
    c.welcomeTimer = undefined;
    c.intervalMs = welcome.heartbeat_interval_ms;
    c.silenceLimitMs = masterSilenceLimitMs(welcome.heartbeat_interval_ms, welcome.heartbeat_timeout_ms);
    const first = c.welcomedAt === undefined;
    c.welcomedAt ??= now();
    state = 'open';
    if (first) {
      log.info(
        { event: 'admitted', heartbeat_interval_ms: c.intervalMs, heartbeat_timeout_ms: welcome.heartbeat_timeout_ms },
        `admitted by the master; heartbeat every ${c.intervalMs} ms`,
      );
      const latest = options.specs();
      if (c.helloSpecs && !sameSpecs(latest, c.helloSpecs)) sendSpecsOn(c, latest);
    }
    heard(c);
    timers.clearTimeout(c.heartbeatTimer);
    c.heartbeatTimer = timers.setTimeout(() => beat(c), c.intervalMs);
  }

  function beat(c: Connection): void {
    if (c !== current || state !== 'open') return;
    c.seq += 1;
    send(c, { type: 'heartbeat', seq: c.seq });
    c.heartbeatTimer = timers.setTimeout(() => beat(c), c.intervalMs);
  }

  /** Anything from the master after its welcome proves it is alive. */
  function heard(c: Connection): void {
    if (c !== current || c.welcomedAt === undefined || state !== 'open') return;
    timers.clearTimeout(c.silenceTimer);
    c.silenceTimer = timers.setTimeout(() => {
      c.silenceTimer = undefined;
      drop(c, `nothing from the master for ${c.silenceLimitMs} ms (no ack, no pong)`, 'master-silent');
    }, c.silenceLimitMs);
  }

  /** Ends a connection this side gave up on, without waiting for TCP to notice. */
  function drop(c: Connection, why: string, event: string): void {
    if (c !== current || state === 'closing') return;
    log.warn({ event }, `${why}; dropping the connection`);
    c.droppedBecause = why;
    clearTimers(c);
    c.ws.terminate();
  }

  function onRefused(c: Connection, res: IncomingMessage): void {
    const status = res.statusCode ?? 0;
    c.localAddress = res.socket.localAddress;
    void readRefusalBody(res, timers).then((reason) => {
      c.refusal = { status, reason };
      c.ws.terminate();
    });
  }

  function onClose(c: Connection, code: number, reason: string): void {
    clearTimers(c);
    if (c !== current) return;
    current = undefined;
    if (state === 'closing') {
      onSocketGone?.();
      return;
    }
    const connectedMs = c.welcomedAt === undefined ? 0 : Math.round(now() - c.welcomedAt);
    const reaction = reportEnd(
      log,
      { refusal: c.refusal, droppedBecause: c.droppedBecause, opened: c.opened, error: c.error, code, reason, connectedMs },
      adviceContext(c.localAddress),
    );
    scheduleRetry({ reaction, welcomed: c.welcomedAt !== undefined, connectedMs, shuttingDown: code === CloseCode.shuttingDown });
  }

  function scheduleRetry(end: EndForRounds): void {
    const plan = rounds.next(end);
    state = 'waiting';
    log.info(
      { event: 'retry', delay_ms: plan.delayMs, attempt: plan.attempt, slow: plan.slow, url: safeUrl(plan.url) },
      `next retry in ${(plan.delayMs / 1000).toFixed(1)} s`,
    );
    if (plan.delayMs === 0) {
      // The next master of a round, at once (at most one round's length in a row: rounds.ts).
      connect();
      return;
    }
    retryTimer = timers.setTimeout(() => {
      retryTimer = undefined;
      if (state === 'waiting') connect();
    }, plan.delayMs);
  }

  function clearTimers(c: Connection): void {
    for (const t of [c.welcomeTimer, c.heartbeatTimer, c.silenceTimer, c.closeTimer]) if (t !== undefined) timers.clearTimeout(t);
    c.welcomeTimer = c.heartbeatTimer = c.silenceTimer = c.closeTimer = undefined;
  }

  function sendSpecsOn(c: Connection, specs: Specs): void {
    send(c, { type: 'specs', specs });
    log.info({ event: 'specs-sent', specs }, 'sent changed specs to the master');
  }

  async function shutdown(): Promise<void> {
    state = 'closing';
    if (retryTimer !== undefined) timers.clearTimeout(retryTimer);
    retryTimer = undefined;
    const c = current;
    if (c) {
      clearTimers(c);
      const gone = new Promise<void>((resolve) => {
        onSocketGone = resolve;
      });
      if (c.ws.readyState === WebSocket.OPEN) {
        c.ws.close(CloseCode.normal, 'agent shutting down');
        const force = timers.setTimeout(() => c.ws.terminate(), closeTimeoutMs);
        await gone;
        timers.clearTimeout(force);
      } else {
        // Not admitted yet (or already closing): there is no session to say goodbye to.
        c.ws.terminate();
        await gone;
      }
    }
    state = 'closed';
    log.info({ event: 'closed' }, 'session closed');
  }

  return {
    get state() {
      return state;
    },
    start() {
      if (state === 'idle') connect();
    },
    sendSpecs(specs) {
      const c = current;
      if (!c || state !== 'open') return false;
      sendSpecsOn(c, specs);
      return true;
    },
    close() {
      closing ??= shutdown();
      return closing;
    },
  };
}

/** Origin and path only: a query string could carry something secret. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
