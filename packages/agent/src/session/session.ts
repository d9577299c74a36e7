import { CloseCode, DEFAULTS, HEADERS, bearer, type Hardware, type Specs } from '@cluster/protocol/agent-side';
import type { Logger } from 'pino';
import WebSocket, { type ClientOptions } from 'ws';
import { realTimers, type Timers } from '../timers.js';
import { fixedToken, type TokenSource } from '../token.js';
import type { RetryOptions } from './backoff.js';
import { adviceForToken, type AdviceContext } from './advice.js';
import { MasterConnection } from './connection.js';
import { ProtocolVersions } from './protocol-fallback.js';
import { reportEnd, unreachedBy } from './end-report.js';
import { logRoundEnd, logUnreachedBeforeAdmission, type Unreached } from './round-report.js';
import { createMasterRounds, type EndForRounds } from './rounds.js';
import { watchForNewToken, type TokenWatch } from './token-watch.js';

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
  /** The latest inventory, read when a hello is sent (protocol version 2); none when absent or undefined. */
  hardware?: () => Hardware | undefined;
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
  /**
   * After the token was refused (401, 4401) or unreadable, how often a token
   * file is read again during the slow wait: a new token there is tried at once.
   */
  tokenRecheckMs?: number;
}

export interface Session {
  readonly state: SessionState;
  start(): void;
  /** Sends changed specs (and inventory) if the session is open; otherwise the next hello carries them. */
  sendSpecs(specs: Specs, hardware?: Hardware): boolean;
  /** Sends a clean close (1000) and stops reconnecting. Idempotent: returns the same promise. */
  close(): Promise<void>;
}

export const DEFAULT_CLOSE_TIMEOUT_MS = 1_000;
export const DEFAULT_TOKEN_RECHECK_MS = 1_000;

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
  const tokenRecheckMs = options.tokenRecheckMs ?? DEFAULT_TOKEN_RECHECK_MS;
  const log = options.logger;
  const rounds = createMasterRounds(typeof options.url === 'string' ? [options.url] : options.url, retry, random);
  const tokenSource: TokenSource = typeof options.token === 'string' ? fixedToken(options.token, 'the agent configuration') : options.token;
  const adviceContext = (localAddress: string | undefined): AdviceContext => ({ workerId: options.workerId, token: tokenSource, url: safeUrl(rounds.url), localAddress });

  const versions = new ProtocolVersions();
  let state: SessionState = 'idle';
  let current: MasterConnection | undefined;
  let retryTimer: unknown;
  let closing: Promise<void> | undefined;
  /** The token sent on the latest connection: after a 401/4401, the one the master refused. */
  let sentToken: string | undefined;
  let tokenWatch: TokenWatch | undefined;
  /** The masters of the current round that could not be reached: said in the round's one line. */
  let unreached: Unreached[] = [];

  function connect(): void {
    tokenWatch?.stop();
    tokenWatch = undefined;
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
    scheduleRetry({ reaction: 'retry-slowly', welcomed: false, connectedMs: 0, shuttingDown: false }, { refused: undefined });
  }

  function open(token: string): void {
    sentToken = token;
    let ws: WebSocket;
    const url = rounds.url;
    const protocolVersion = versions.versionFor(url);
    try {
      ws = connectFn(url, {
        headers: {
          [HEADERS.workerId]: options.workerId,
          [HEADERS.protocolVersion]: String(protocolVersion),
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
    const deps = {
      workerId: options.workerId,
      agentVersion: options.agentVersion,
      protocolVersion,
      specs: options.specs,
      hardware: options.hardware ?? (() => undefined),
      url: safeUrl(url),
      logger: log,
      timers,
      now,
      welcomeTimeoutMs,
      closeTimeoutMs,
    };
    const connection: MasterConnection = new MasterConnection(ws, deps, {
      admitted() {
        if (connection !== current) return;
        state = 'open';
        logUnreachedBeforeAdmission(log, safeUrl(url), unreached);
        unreached = [];
      },
      ended(end) {
        if (connection !== current) return;
        current = undefined;
        // A master of an older release refuses our version: speak its version, at once (see protocol-fallback.ts).
        const versionRefused = !end.welcomed && (end.refusal?.status === 426 || (end.refusal === undefined && end.code === CloseCode.unsupportedVersion));
        const fallback = versionRefused ? versions.refused(url, protocolVersion) : undefined;
        if (fallback !== undefined) {
          log.info(
            { event: 'protocol-fallback', url: safeUrl(url), from: protocolVersion, to: fallback },
            `the master does not speak protocol version ${protocolVersion}; speaking version ${fallback} to it (no hardware inventory before version 2)`,
          );
          connect();
          return;
        }
        if (end.welcomed) versions.sessionEnded(url);
        const reaction = reportEnd(log, end, adviceContext(end.localAddress));
        const lost = unreachedBy(end, adviceContext(end.localAddress));
        if (lost !== undefined) unreached.push(lost);
        const tokenRefused = end.refusal === undefined ? end.opened && end.code === CloseCode.unauthorized : end.refusal.status === 401;
        scheduleRetry(
          { reaction, welcomed: end.welcomed, connectedMs: end.connectedMs, shuttingDown: end.code === CloseCode.shuttingDown, retryAfterMs: end.refusal?.retryAfterMs },
          tokenRefused ? { refused: sentToken } : undefined,
        );
      },
    });
    current = connection;
  }

  /** `token`: the end was the token's fault; a new token in the file cuts the slow wait short. */
  function scheduleRetry(end: EndForRounds, token?: { refused: string | undefined }): void {
    const plan = rounds.next(end);
    state = 'waiting';
    if (plan.delayMs === 0) {
      // The next master of a round, tried at once, is not news: the round's line says what it tried.
      log.debug({ event: 'retry', delay_ms: 0, attempt: plan.attempt, slow: plan.slow, url: safeUrl(plan.url) }, `trying the next master now: ${safeUrl(plan.url)}`);
    } else {
      logRoundEnd(log, { ...plan, url: safeUrl(plan.url) }, unreached);
      unreached = [];
    }
    if (plan.delayMs === 0) {
      // The next master of a round, at once (at most one round's length in a row: rounds.ts).
      connect();
      return;
    }
    retryTimer = timers.setTimeout(() => {
      retryTimer = undefined;
      if (state === 'waiting') connect();
    }, plan.delayMs);
    if (token !== undefined && plan.slow && tokenSource.rereads) {
      tokenWatch = watchForNewToken(tokenSource, token.refused, timers, tokenRecheckMs, () => {
        if (state !== 'waiting') return;
        if (retryTimer !== undefined) timers.clearTimeout(retryTimer);
        retryTimer = undefined;
        log.info({ event: 'token-changed', url: safeUrl(plan.url) }, `${tokenSource.where} holds a new token: trying it now`);
        connect();
      });
    }
  }

  async function shutdown(): Promise<void> {
    state = 'closing';
    if (retryTimer !== undefined) timers.clearTimeout(retryTimer);
    retryTimer = undefined;
    tokenWatch?.stop();
    tokenWatch = undefined;
    await current?.goodbye();
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
    sendSpecs(specs, hardware) {
      return state === 'open' && current !== undefined && current.sendSpecs(specs, hardware);
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
