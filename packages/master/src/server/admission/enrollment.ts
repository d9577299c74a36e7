import type { IncomingHttpHeaders } from 'node:http';
import {
  ENROLLMENT_PROTOCOL_VERSION,
  HEADERS,
  NOT_ADMITTED,
  encode,
  isValidWorkerId,
  parseEnrollAuthorization,
} from '@cluster/protocol';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { ClaimResult } from '../../registry/enrolled-credential.js';
import { matchesEnrollmentPatterns } from '../../registry/enrollment-pattern.js';
import { enrollmentTokenState, type EnrollmentTokenInfo } from '../../registry/enrollment-token-store.js';
import type { AddressMatcher } from './address.js';
import type { Refusal } from './decision.js';
import type { AdmissionView } from './view.js';

/** What enrollment needs from the database: the tokens and the credentials it issues. */
export interface EnrollmentPort {
  find(token: string): Promise<EnrollmentTokenInfo | null>;
  consume(tokenId: string, maxUses: number | null, now: Date): Promise<boolean>;
  release(tokenId: string): Promise<void>;
  claim(workerId: string, enrollmentTokenId: string, now: Date): Promise<ClaimResult>;
  undo(workerId: string, tokenHash: string): Promise<void>;
}

export interface EnrollmentDeps {
  port: EnrollmentPort;
  view: AdmissionView;
  addresses: AddressMatcher;
  checkSourceAddress: boolean;
  now: () => Date;
  logger: Logger;
  /** How long an enrollment connection may stay open after the credential was sent. */
  closeTimeoutMs: number;
  /** Retry-After (seconds) while the view is not loaded yet, as for a session's upgrade (decision.ts); undefined: none. */
  loadingRetryAfterS?: (() => number | undefined) | undefined;
  /** A credential was issued (the worker history's `enrolled` event). */
  onEnrolled?: ((workerId: string, enrollmentTokenId: string, address: string | undefined) => void) | undefined;
}

/** An enrollment that passed every check and holds its new credential. */
export interface Enrollment {
  ok: true;
  workerId: string;
  tokenId: string;
  token: string;
  tokenHash: string;
}

const ADVICE = {
  revoked: 'enrollment token revoked: ask the admin for a new one (cluster-master enroll create)',
  expired: 'enrollment token expired: ask the admin for a new one (cluster-master enroll create)',
  'used-up': 'enrollment token used up (its --uses are spent): ask the admin for a new one (cluster-master enroll create)',
} as const;

function refused(status: Refusal['status'], reason: string, workerId: string | undefined, answer?: string): Refusal {
  return { ok: false, status, reason, metric: status === 403 ? 'forbidden' : 'unauthorized', ...(answer === undefined ? {} : { answer }), ...(workerId === undefined ? {} : { workerId }) };
}

/**
 * Enrollment at the upgrade (protocol version 3, see @cluster/protocol's
 * enrollment.ts): the checks of any admission (a registered id, from its
 * worker_ip) plus the enrollment token's (known, not revoked, not expired, not
 * used up, the id within its patterns) and one of its own: the worker has no
 * credential yet. A token nobody issued and an id nobody registered get the
 * one 401 every unknown credential gets; a real token that can no longer be
 * used is named (its holder knows it), so the agent can say what to do.
 * Every refusal counts as a failed authentication (upgrade.ts).
 *
 * What passes is written before the upgrade completes (the credential, then
 * the token's use, each undone if the next step fails), so every refusal is
 * an HTTP status like any other.
 */
export class EnrollmentAdmission {
  constructor(private readonly deps: EnrollmentDeps) {}

  async decide(headers: IncomingHttpHeaders, remoteAddress: string | undefined, mayRefresh: () => boolean): Promise<Enrollment | Refusal> {
    const given = headers[HEADERS.protocolVersion];
    if (given !== String(ENROLLMENT_PROTOCOL_VERSION)) {
      return { ok: false, status: 400, reason: `enrollment needs protocol version ${ENROLLMENT_PROTOCOL_VERSION}`, metric: 'unsupported_version' };
    }
    const workerId = headers[HEADERS.workerId];
    if (typeof workerId !== 'string' || !isValidWorkerId(workerId)) return { ok: false, status: 400, reason: 'missing or invalid worker id', metric: 'bad_worker_id' };
    const authorization = headers[HEADERS.authorization];
    const secret = parseEnrollAuthorization(typeof authorization === 'string' ? authorization : undefined);
    if (secret === undefined) return refused(401, 'enrollment: malformed enrollment token', workerId);
    const { port, view, now } = this.deps;
    if (!view.loaded) {
      const retryAfterS = this.deps.loadingRetryAfterS?.();
      return { ok: false, status: 503, reason: 'registry not loaded yet', metric: 'unavailable', workerId, ...(retryAfterS === undefined ? {} : { retryAfterS }) };
    }
    const token = await port.find(secret);
    if (token === null) return refused(401, 'enrollment: unknown enrollment token', workerId, NOT_ADMITTED);
    const state = enrollmentTokenState(token, now());
    if (state !== undefined) return refused(401, ADVICE[state], workerId);
    if (!matchesEnrollmentPatterns(token.patterns, workerId)) {
      return refused(403, `enrollment: worker id not within the enrollment token's --workers (${token.patterns.join(' ')})`.slice(0, 200), workerId);
    }
    let entry = view.get(workerId);
    if (entry === undefined && mayRefresh()) {
      // Registered a moment ago: judged on a view read after the request came. (A credential issued
      // meanwhile needs no refresh: the claim below finds it.)
      if (!(await view.fresh())) return { ok: false, status: 503, reason: 'registry unavailable', metric: 'unavailable', workerId };
      entry = view.get(workerId);
    }
    if (entry === undefined) return refused(401, 'enrollment: unknown worker', workerId, NOT_ADMITTED);
    if (this.deps.checkSourceAddress) {
      const allowed = remoteAddress !== undefined && (await this.deps.addresses.matches(entry.workerIp, remoteAddress));
      if (!allowed) return refused(403, 'enrollment: source address does not match worker_ip', workerId);
    }
    if (entry.tokenHash !== undefined && mayRefresh()) {
      // The view may be behind an enrollment undone a moment ago (the agent never confirmed it): judged on a fresh one.
      if (!(await view.fresh())) return { ok: false, status: 503, reason: 'registry unavailable', metric: 'unavailable', workerId };
      entry = view.get(workerId) ?? entry;
    }
    if (entry.tokenHash !== undefined) return alreadyEnrolled(workerId);
    const at = now();
    const claimed = await port.claim(workerId, token.token_id, at);
    if (!claimed.ok) return claimed.why === 'unknown-worker' ? refused(401, 'enrollment: unknown worker', workerId, NOT_ADMITTED) : alreadyEnrolled(workerId);
    // Counted after the claim, so a claim that loses (already enrolled) costs no use; undone when no use is left.
    if (await port.consume(token.token_id, token.max_uses, at)) return { ok: true, workerId, tokenId: token.token_id, token: claimed.token, tokenHash: claimed.tokenHash };
    await port.undo(workerId, claimed.tokenHash);
    const again = await port.find(secret);
    return refused(401, ADVICE[(again === null ? undefined : enrollmentTokenState(again, at)) ?? 'used-up'], workerId);
  }

  /** The upgrade failed after the writes (the peer went away): nothing of it stays. */
  async undo(enrollment: Enrollment): Promise<void> {
    await this.deps.port.undo(enrollment.workerId, enrollment.tokenHash);
    await this.deps.port.release(enrollment.tokenId);
  }

  /**
   * The upgraded socket: the credential, then the agent's close. Only a close
   * 1000 says the agent stored it (the agent closes so after its fsync and
   * rename); any other end — the connection lost, the send failed, no close
   * within closeTimeoutMs, a message from the agent — takes the credential
   * back and gives the token's use back, so that a worker whose agent never
   * held its credential can enroll again instead of being refused 409 until
   * an admin steps in.
   */
  deliver(ws: WebSocket, enrollment: Enrollment, address: string | undefined): void {
    const { logger, closeTimeoutMs } = this.deps;
    const timer = setTimeout(() => ws.terminate(), closeTimeoutMs);
    timer.unref();
    ws.on('close', (code) => {
      clearTimeout(timer);
      if (code === 1000) {
        logger.info({ event: 'enrolled', worker_id: enrollment.workerId, enrollment_token_id: enrollment.tokenId, address }, 'worker enrolled: its own credential was issued and stored');
        this.deps.onEnrolled?.(enrollment.workerId, enrollment.tokenId, address);
        return;
      }
      this.undo(enrollment).then(
        () => logger.warn({ event: 'enrollment-undone', worker_id: enrollment.workerId, close_code: code, address }, 'enrollment undone: the agent did not confirm that it stored its credential; it may enroll again'),
        (error: unknown) =>
          logger.error(
            { event: 'enrollment-undo-failed', worker_id: enrollment.workerId, error: error instanceof Error ? error.message : String(error) },
            `enrollment could not be undone: worker ${enrollment.workerId} holds a credential its agent may not have; cluster-master worker token ${enrollment.workerId} issues a new one`,
          ),
      );
    });
    ws.on('error', () => ws.terminate());
    // The agent sends nothing here: anything it sends ends the connection (ws bounds its size by maxPayload).
    ws.on('message', () => ws.close(4400, 'no messages on an enrollment connection'));
    ws.send(encode({ type: 'enrolled', protocol_version: ENROLLMENT_PROTOCOL_VERSION, worker_id: enrollment.workerId, token: enrollment.token }), (error) => {
      if (error !== undefined && error !== null) ws.terminate();
    });
  }
}

function alreadyEnrolled(workerId: string): Refusal {
  return {
    ok: false,
    status: 409,
    reason: `enrollment: worker ${workerId} already has a credential (enrolled before, or given a token); an admin issues a new one with cluster-master worker token ${workerId}`,
    metric: 'unauthorized',
    workerId,
  };
}
