import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';
import type { TokenVerifier } from '../ports.js';
import { normaliseAddress, type AddressMatcher } from './address.js';
import { decideAdmission, type Admitted, type Refusal } from './decision.js';
import { checkHandshake } from './handshake.js';
import type { RefusalLog } from './refusal-log.js';
import type { FailureLimit } from './failure-limit.js';
import { refuseUpgrade } from './refusal.js';
import type { AdmissionView } from './view.js';
import { isEnrollAuthorization } from '@cluster/protocol';
import type { EnrollmentAdmission } from './enrollment.js';

export interface UpgradeAdmissionDeps {
  wss: WebSocketServer;
  view: AdmissionView;
  addresses: AddressMatcher;
  verifyToken: TokenVerifier;
  checkSourceAddress: boolean;
  refusals: RefusalLog;
  /** Failed upgrades per address and in total: an address past its share is refused 429 before any work; past the total, refusals wait for no re-read of the view. */
  failures?: FailureLimit | undefined;
  logger: Logger;
  /** False while the master starts or shuts down: every upgrade is refused 503. */
  accepting(): boolean;
  /** Retry-After (seconds) on the 503 of a master still loading its admission view; undefined: none. */
  loadingRetryAfterS?: () => number | undefined;
  /**
   * Admissions the master has taken on and not finished: past `max`, an
   * upgrade is answered 503 with `retryAfterS()` before any admission work
   * (see #admitting). Absent: no limit.
   */
  inFlight?: { max: number; awaitingHello(): number; retryAfterS(): number | undefined } | undefined;
  /** Enrollment upgrades (`Authorization: Enroll …`, protocol 3); absent: refused (a master without a database). */
  enrollment?: EnrollmentAdmission | undefined;
  /** ws completed the handshake of an admitted worker. */
  onAdmitted(ws: WebSocket, admitted: Admitted, address: string | undefined): void;
}

const TOO_MANY_FAILURES: Refusal = { ok: false, status: 429, reason: 'too many refused upgrades from this address; try again later', metric: 'too_many_failures' };
/** The refusals that say a credential was wrong: what FailureLimit counts. */
const FAILED_AUTH = new Set(['unknown_worker', 'unauthorized', 'forbidden']);

const SHUTTING_DOWN: Refusal = { ok: false, status: 503, reason: 'master shutting down', metric: 'shutting_down' };

/** The peer's address in the form admission compares. */
export function addressOf(socket: { remoteAddress?: string | undefined }): string | undefined {
  return socket.remoteAddress === undefined ? undefined : normaliseAddress(socket.remoteAddress);
}

/**
 * The HTTP upgrade path of the agents' endpoint: the handshake checks, the
 * admission decision, and the hand-over to ws; every refusal is logged,
 * counted and answered with its HTTP status on the same path.
 */
export class UpgradeAdmission {
  /** Upgrades decided on but not handed to ws or refused yet. */
  #deciding = 0;

  constructor(private readonly deps: UpgradeAdmissionDeps) {
    // checkHandshake mirrors ws's checks; this is the net for any ws makes beyond them (a malformed
    // Sec-WebSocket-Protocol): refused on the same logged, counted path instead of silently by ws.
    deps.wss.on('wsClientError', (error: Error, socket: Duplex, req: IncomingMessage) => {
      deps.logger.debug({ error: error.message }, 'websocket handshake refused by ws');
      this.#refuse(req, socket, { ok: false, status: 400, reason: 'invalid websocket handshake', metric: 'bad_handshake' }, addressOf(req.socket));
    });
  }

  /** An upgrade request on the agents' path. */
  readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const ignore = (): void => undefined;
    socket.on('error', ignore);
    const address = addressOf(req.socket);
    if (!this.deps.accepting()) {
      this.#refuse(req, socket, SHUTTING_DOWN, address);
      return;
    }
    // Before admission: a request ws would refuse costs no admission work and is never counted as admitted.
    const badHandshake = checkHandshake(req);
    if (badHandshake !== null) {
      this.#refuse(req, socket, badHandshake, address);
      return;
    }
    const { view, addresses, verifyToken, checkSourceAddress, logger, failures } = this.deps;
    if (failures?.blocked(address) === true) {
      this.#refuse(req, socket, TOO_MANY_FAILURES, address);
      return;
    }
    const mayRefresh = (): boolean => failures?.saturated !== true;
    const authorization = req.headers.authorization;
    if (isEnrollAuthorization(typeof authorization === 'string' ? authorization : undefined)) {
      this.#enroll(req, socket, head, address, mayRefresh);
      return;
    }
    const busy = this.#busy();
    if (busy !== undefined) {
      this.#refuse(req, socket, busy, address);
      return;
    }
    const { loadingRetryAfterS } = this.deps;
    this.#deciding += 1;
    decideAdmission({ view, addresses, verifyToken, checkSourceAddress, mayRefresh, ...(loadingRetryAfterS === undefined ? {} : { loadingRetryAfterS }) }, req.headers, address)
      .catch((error: unknown): Refusal => {
        logger.error({ error: error instanceof Error ? error.message : String(error) }, 'admission failed');
        return { ok: false, status: 503, reason: 'admission failed', metric: 'unavailable' };
      })
      .then((decision) => {
        this.#deciding -= 1;
        if (socket.destroyed) return;
        if (!this.deps.accepting()) {
          this.#refuse(req, socket, SHUTTING_DOWN, address);
          return;
        }
        if (!decision.ok) {
          if (FAILED_AUTH.has(decision.metric)) failures?.record(address);
          this.#refuse(req, socket, decision, address);
          return;
        }
        socket.off('error', ignore);
        this.deps.wss.handleUpgrade(req, socket, head, (ws) => this.deps.onAdmitted(ws, decision, address));
      })
      .catch((error: unknown) => {
        logger.error({ error: error instanceof Error ? error.message : String(error) }, 'upgrade failed');
        socket.destroy();
      });
  };

  /**
   * The refusal for an upgrade that comes while the master has more admissions
   * in flight (decisions pending, sessions admitted and waiting for their hello)
   * than it should: in a reconnect storm on a loaded master those counts grow
   * when the master answers later than the agents wait (their welcome timeout,
   * 10 s), and each admission it still completes then is lost work (the agent
   * has gone, and comes again). A 503 with a Retry-After booked with the
   * loading ones costs an HTTP answer instead of the handshake, the session and
   * its writes, and brings the agent back when the master can take it, its
   * backoff not grown. Undefined: admit.
   */
  #busy(): Refusal | undefined {
    const limit = this.deps.inFlight;
    if (limit === undefined || this.#deciding + limit.awaitingHello() < limit.max) return undefined;
    const retryAfterS = limit.retryAfterS();
    return { ok: false, status: 503, reason: 'master busy admitting other agents; try again later', metric: 'unavailable', ...(retryAfterS === undefined ? {} : { retryAfterS }) };
  }

  /** An enrollment upgrade (enrollment.ts): refusals on the same logged, counted path; each one a failed authentication. */
  #enroll(req: IncomingMessage, socket: Duplex, head: Buffer, address: string | undefined, mayRefresh: () => boolean): void {
    const { enrollment, failures, logger } = this.deps;
    if (enrollment === undefined) {
      this.#refuse(req, socket, { ok: false, status: 400, reason: 'this master does not enroll workers', metric: 'bad_handshake' }, address);
      return;
    }
    // An enrollment token is checked by a database read (by its hash); while refused upgrades flood in from
    // everywhere (past failedAuthTotal) that read is not spent: enrollments wait, as an unknown id's refusal does.
    if (failures?.saturated === true) {
      this.#refuse(req, socket, { ...TOO_MANY_FAILURES, reason: 'too many refused upgrades; enrollment paused, try again later' }, address);
      return;
    }
    enrollment
      .decide(req.headers, address, mayRefresh)
      .catch((error: unknown): Refusal => {
        logger.error({ error: error instanceof Error ? error.message : String(error) }, 'enrollment failed');
        return { ok: false, status: 503, reason: 'enrollment failed', metric: 'unavailable' };
      })
      .then(async (decision) => {
        if (!decision.ok) {
          if (FAILED_AUTH.has(decision.metric)) failures?.record(address);
          this.#refuse(req, socket, decision, address);
          return;
        }
        if (socket.destroyed || !this.deps.accepting()) {
          // The peer left (or the master is stopping) while the credential was written: take it back.
          await enrollment.undo(decision);
          if (socket.destroyed) logger.info({ worker_id: decision.workerId, address }, 'enrollment undone: the agent left before its credential was sent');
          else this.#refuse(req, socket, SHUTTING_DOWN, address);
          return;
        }
        this.deps.wss.handleUpgrade(req, socket, head, (ws) => enrollment.deliver(ws, decision, address));
      })
      .catch((error: unknown) => {
        logger.error({ error: error instanceof Error ? error.message : String(error) }, 'enrollment upgrade failed');
        socket.destroy();
      });
  }

  /** An upgrade request on any other path. */
  readonly onStrayUpgrade = (req: IncomingMessage, socket: Duplex): void => {
    socket.on('error', () => undefined);
    // 'unknown path', not 'unknown worker': the agent tells a wrong URL path from an unregistered worker by this body.
    this.#refuse(req, socket, { ok: false, status: 404, reason: 'unknown path', metric: 'bad_path' }, addressOf(req.socket));
  };

  #refuse(req: IncomingMessage, socket: Duplex, refusal: Refusal, address: string | undefined): void {
    this.deps.refusals.upgrade(refusal, req.headers, address);
    refuseUpgrade(socket, refusal.status, refusal.answer ?? refusal.reason, refusal.retryAfterS);
  }
}
