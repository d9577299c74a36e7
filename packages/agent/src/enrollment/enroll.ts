import { dirname } from 'node:path';
import {
  DEFAULTS,
  ENROLLMENT_PROTOCOL_VERSION,
  HEADERS,
  enrollAuthorization,
  parseEnrolledMessage,
} from '@cluster/protocol/agent-side';
import type { Logger } from 'pino';
import WebSocket, { type ClientOptions } from 'ws';
import { realTimers, type Timers } from '../timers.js';
import { explainConnectError } from '../session/advice.js';
import { hintedDelayMs, parseRetryAfterMs } from '../session/backoff.js';
import { readRefusalBody, sanitizeReason } from '../session/refusal.js';
import { fixedToken } from '../token.js';
import { adviceForEnrollment } from './advice.js';
import { checkWritable, storeCredential } from './credential-file.js';

export type Connect = (url: string, options: ClientOptions) => WebSocket;

export interface EnrollerOptions {
  /** The masters' agent URLs, tried in turn. */
  urls: readonly string[];
  workerId: string;
  /** The enrollment token; sent as `Authorization: Enroll …`, never logged. */
  token: string;
  /** Where it came from, for advice (AGENT_ENROLL_TOKEN, --enroll-token-file …). */
  tokenFrom: string;
  /** Where the credential goes (in the state directory). */
  credentialFile: string;
  ca?: Buffer | undefined;
  logger: Logger;
  timers?: Timers;
  random?: () => number;
  connect?: Connect;
  refusedRetryMs?: number;
  reconnectBaseMs?: number;
  reconnectCapMs?: number;
  /** From starting a connection to the master's `enrolled` message. */
  welcomeTimeoutMs?: number;
  store?: (path: string, token: string) => Promise<void>;
}

export interface Enroller {
  /** Enrolls (retrying as the session would), stores the credential; resolves true once stored, false when closed first. */
  run(): Promise<boolean>;
  /** Stops retrying; run() resolves false. */
  close(): void;
}

type Outcome =
  | { kind: 'enrolled'; token: string; ws: WebSocket }
  | { kind: 'refused'; status: number; body: string; localAddress: string | undefined; retryAfterMs: number | undefined }
  | { kind: 'failed'; why: string; advice?: string | undefined };

/** The credential could not be stored after the master issued it: only an admin can help now. */
export class CredentialStoreError extends Error {}

/**
 * The agent's side of enrollment (@cluster/protocol's enrollment.ts): one
 * upgrade with the enrollment token, one `enrolled` message back, the
 * credential stored (0600) before the connection is closed. A refusal is
 * logged with its reason and advice and retried slowly, like a refused
 * session (an admin may register the worker or create a new token
 * meanwhile); a connection that fails, or a master that cannot enroll now
 * (503, 429: the statuses a session retries), is retried with the usual
 * backoff, or after the master's Retry-After when it gives one.
 */
export function createEnroller(options: EnrollerOptions): Enroller {
  const timers = options.timers ?? realTimers;
  const random = options.random ?? Math.random;
  const connect: Connect = options.connect ?? ((url, o) => new WebSocket(url, o));
  const store = options.store ?? storeCredential;
  const log = options.logger;
  const refusedRetryMs = options.refusedRetryMs ?? DEFAULTS.refusedRetryMs;
  const baseMs = options.reconnectBaseMs ?? DEFAULTS.reconnectBaseMs;
  const capMs = options.reconnectCapMs ?? DEFAULTS.reconnectCapMs;
  const answerTimeoutMs = options.welcomeTimeoutMs ?? DEFAULTS.helloTimeoutMs;
  let closed = false;
  let wake: (() => void) | undefined;
  let current: WebSocket | undefined;

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = timers.setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        timers.clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });

  function attempt(url: string): Promise<Outcome> {
    return new Promise((resolve) => {
      let done = false;
      let error: { code?: string | undefined; message: string } | undefined;
      const finish = (outcome: Outcome) => {
        if (done) return;
        done = true;
        timers.clearTimeout(timer);
        resolve(outcome);
      };
      let ws: WebSocket;
      try {
        ws = connect(url, {
          headers: {
            [HEADERS.workerId]: options.workerId,
            [HEADERS.protocolVersion]: String(ENROLLMENT_PROTOCOL_VERSION),
            [HEADERS.authorization]: enrollAuthorization(options.token),
          },
          perMessageDeflate: false,
          maxPayload: DEFAULTS.maxMessageBytes,
          followRedirects: false,
          ...(options.ca === undefined ? {} : { ca: options.ca }),
        });
      } catch (err) {
        resolve({ kind: 'failed', why: err instanceof Error ? err.message : String(err) });
        return;
      }
      current = ws;
      const timer = timers.setTimeout(() => {
        ws.terminate();
        finish({ kind: 'failed', why: `no answer from the master within ${answerTimeoutMs} ms` });
      }, answerTimeoutMs);
      ws.on('unexpected-response', (_req, res) => {
        const localAddress = res.socket.localAddress;
        void readRefusalBody(res, timers).then((body) => {
          ws.terminate();
          finish({ kind: 'refused', status: res.statusCode ?? 0, body, localAddress, retryAfterMs: parseRetryAfterMs(res.headers['retry-after']) });
        });
      });
      ws.on('message', (data, isBinary) => {
        const parsed = parseEnrolledMessage(data, isBinary);
        if (!parsed.ok || parsed.message.worker_id !== options.workerId) {
          const reason = parsed.ok ? 'a credential for another worker' : parsed.reason;
          ws.close(parsed.ok ? 4400 : parsed.code, 'bad enrollment answer');
          finish({ kind: 'failed', why: `the master's enrollment answer cannot be used (${reason})` });
          return;
        }
        finish({ kind: 'enrolled', token: parsed.message.token, ws });
      });
      ws.on('error', (err: NodeJS.ErrnoException) => {
        error ??= { code: err.code, message: err.message };
      });
      ws.on('close', (code, reason) => {
        if (done) return;
        if (error !== undefined) {
          const { words, advice } = explainConnectError(error, { workerId: options.workerId, token: fixedToken('', options.tokenFrom), url });
          finish({ kind: 'failed', why: words, advice });
          return;
        }
        finish({ kind: 'failed', why: `the master closed the enrollment connection (${code}${reason.length > 0 ? `: ${sanitizeReason(reason.toString('utf8'))}` : ''}) without a credential` });
      });
    });
  }

  async function run(): Promise<boolean> {
    try {
      await checkWritable(dirname(options.credentialFile));
    } catch (err) {
      throw new CredentialStoreError(
        `cannot store a credential in ${dirname(options.credentialFile)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): give the agent a writable state directory (StateDirectory= in its unit, or AGENT_STATE_DIRECTORY)`,
      );
    }
    let failures = 0;
    let index = 0;
    while (!closed) {
      const url = options.urls[index % options.urls.length]!;
      index += 1;
      log.info({ event: 'enrolling', url: safe(url), worker_id: options.workerId }, 'enrolling with the enrollment token');
      const outcome = await attempt(url);
      current = undefined;
      if (closed) {
        if (outcome.kind === 'enrolled') outcome.ws.terminate();
        break;
      }
      if (outcome.kind === 'enrolled') {
        try {
          await store(options.credentialFile, outcome.token);
        } catch (err) {
          outcome.ws.terminate();
          throw new CredentialStoreError(
            `the master enrolled worker ${options.workerId} but its credential could not be stored in ${options.credentialFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): it cannot enroll again; run \`cluster-master worker token ${options.workerId} --token-file FILE\` on the master and put the token in AGENT_TOKEN_FILE`,
          );
        }
        outcome.ws.close(1000, 'credential stored');
        log.info({ event: 'enrolled', credential_file: options.credentialFile }, `enrolled: this worker's own credential is stored in ${options.credentialFile} and used from now on`);
        return true;
      }
      const roundDone = index % options.urls.length === 0;
      if (outcome.kind === 'refused' && cannotEnrollNow(outcome.status)) {
        // Not a refusal only an admin can fix (a master starting, a database away, too many at once): asked
        // again like a session would be, after the master's Retry-After when it gave one.
        const retryInMs = outcome.retryAfterMs === undefined ? undefined : hintedDelayMs(outcome.retryAfterMs, { baseMs, capMs }, random);
        log.warn(
          { event: 'enrollment-waiting', url: safe(url), status: outcome.status, reason: outcome.body, ...(retryInMs === undefined ? {} : { retry_in_ms: retryInMs }) },
          `the master cannot enroll now (HTTP ${outcome.status}${outcome.body ? `: ${outcome.body}` : ''}); trying again`,
        );
        if (retryInMs !== undefined) await sleep(retryInMs);
        else if (roundDone) {
          failures += 1;
          await sleep(random() * Math.min(capMs, baseMs * 2 ** Math.min(failures, 20)));
        }
      } else if (outcome.kind === 'refused') {
        const advice = adviceForEnrollment(outcome.status, outcome.body, { workerId: options.workerId, tokenFrom: options.tokenFrom, credentialFile: options.credentialFile, localAddress: outcome.localAddress });
        log.error({ event: 'enrollment-refused', status: outcome.status, reason: outcome.body, advice }, `the master refused the enrollment (HTTP ${outcome.status}${outcome.body ? `: ${outcome.body}` : ''})`);
        // Only an admin can fix a refusal: the slow pace of a refused session, ±20 %.
        if (roundDone) await sleep(refusedRetryMs * (0.8 + 0.4 * random()));
      } else {
        log.warn({ event: 'enrollment-failed', url: safe(url), error: outcome.why, ...(outcome.advice === undefined ? {} : { advice: outcome.advice }) }, `enrollment failed: ${outcome.why}`);
        if (roundDone) {
          failures += 1;
          await sleep(random() * Math.min(capMs, baseMs * 2 ** Math.min(failures, 20)));
        }
      }
    }
    return false;
  }

  return {
    run,
    close() {
      closed = true;
      current?.terminate();
      wake?.();
    },
  };
}

/**
 * The master cannot take an enrollment now, whoever asks (429 too many at once, 5xx: starting, its database
 * away): the statuses a session retries with its backoff. Every other status is about this worker or this
 * token (401, 403, 409 already enrolled, 426 …) and waits for an admin.
 */
function cannotEnrollNow(status: number): boolean {
  return status === 429 || (status >= 500 && status < 600);
}

function safe(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
