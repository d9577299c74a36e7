import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';
import type { TokenVerifier } from '../ports.js';
import { normaliseAddress, type AddressMatcher } from './address.js';
import { checkRequest, decideAdmission, notLoaded, type Admitted, type Refusal } from './decision.js';
import { HeldUpgrades } from './held-upgrades.js';
import type { Clock } from '../clock.js';
import type { MasterMetrics } from '../../metrics/metrics.js';
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
  /**
   * Upgrades the master cannot take yet (view loading, admissions in flight at
   * `inFlight.max`) are held, in arrival order, and taken as soon as it can
   * (held-upgrades.ts); one held longer than `holdMs`, or that finds `max`
   * held already, is refused 503 as without this. Absent, or `max` 0: refused at once.
   */
  hold?: HoldOptions | undefined;
  /** Enrollment upgrades (`Authorization: Enroll …`, protocol 3); absent: refused (a master without a database). */
  enrollment?: EnrollmentAdmission | undefined;
  /** ws completed the handshake of an admitted worker. */
  onAdmitted(ws: WebSocket, admitted: Admitted, address: string | undefined): void;
}

export interface HoldOptions {
  max: number;
  holdMs: number;
  clock: Pick<Clock, 'monotonic' | 'setTimeout' | 'clearTimeout'>;
  /** Whether an upgrade may wait for the view's load: not while the database fails (the load has no end to wait for). */
  whileLoading(): boolean;
  metrics: Pick<MasterMetrics, 'upgradesHeld' | 'upgradeHolds'>;
}

/** An upgrade held: what it takes to go on with it later. */
interface Held {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  address: string | undefined;
  workerId: string;
  /** Drops the entry when its peer leaves while it waits. */
  gone: () => void;
  /** Ends the socket of a peer that sent data or its end while held. */
  cut: () => void;
}

/** Why the master cannot take an upgrade now. */
type Wait = 'loading' | 'busy';

const TOO_MANY_FAILURES: Refusal = { ok: false, status: 429, reason: 'too many refused upgrades from this address; try again later', metric: 'too_many_failures' };
/** The refusals that say a credential was wrong: what FailureLimit counts. */
const FAILED_AUTH = new Set(['unknown_worker', 'unauthorized', 'forbidden']);

const IGNORE = (): void => undefined;

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
  readonly #held: HeldUpgrades<Held> | undefined;

  constructor(private readonly deps: UpgradeAdmissionDeps) {
    const hold = deps.hold;
    this.#held =
      hold === undefined || hold.max <= 0
        ? undefined
        : new HeldUpgrades<Held>({
            max: hold.max,
            holdMs: hold.holdMs,
            clock: hold.clock,
            onExpired: (held) => {
              const wait = this.#wait();
              if (wait === undefined) {
                // The master can take it after all (the database failed while the view loaded: no more holding for that).
                this.#let(held, 'taken');
                this.#admit(held.req, held.socket, held.head, held.address);
                return;
              }
              this.#let(held, 'expired');
              // Refused as it would have been on arrival, its Retry-After booked now.
              this.#refuse(held.req, held.socket, this.#refusalFor(wait, held.workerId), held.address);
            },
          });
    // checkHandshake mirrors ws's checks; this is the net for any ws makes beyond them (a malformed
    // Sec-WebSocket-Protocol): refused on the same logged, counted path instead of silently by ws.
    deps.wss.on('wsClientError', (error: Error, socket: Duplex, req: IncomingMessage) => {
      deps.logger.debug({ error: error.message }, 'websocket handshake refused by ws');
      this.#refuse(req, socket, { ok: false, status: 400, reason: 'invalid websocket handshake', metric: 'bad_handshake' }, addressOf(req.socket));
    });
  }

  /** An upgrade request on the agents' path. */
  readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // Until ws has the socket (it listens itself): a peer's reset must not be an unhandled error.
    socket.on('error', IGNORE);
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
    const { failures } = this.deps;
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
    const checked = checkRequest(req.headers);
    if (!checked.ok) {
      this.#refuse(req, socket, checked, address);
      return;
    }
    // In arrival order: what is held and can go goes first; if anything is left held, the master
    // cannot take this one either (#wait() says why), and it waits behind them.
    this.takeHeld();
    const wait = this.#wait();
    if (wait !== undefined) {
      if (!this.#hold(req, socket, head, address, checked.workerId)) this.#refuse(req, socket, this.#refusalFor(wait, checked.workerId), address);
      return;
    }
    this.#admit(req, socket, head, address);
  };

  /**
   * Answers every held upgrade 503 "master shutting down" (close()); later
   * ones are refused on arrival (accepting() is false by then).
   */
  releaseHeld(): void {
    for (const held of this.#held?.clear() ?? []) {
      this.#let(held, 'shutdown');
      this.#refuse(held.req, held.socket, SHUTTING_DOWN, held.address);
    }
  }

  /**
   * Takes the held upgrades, oldest first, for as long as the master can: call
   * whenever that may have changed (the view loaded, an admission in flight
   * ended: decided, said hello, or its session closed).
   */
  readonly takeHeld = (): void => {
    const held = this.#held;
    if (held === undefined) return;
    for (let next = held.oldest(); next !== undefined; next = held.oldest()) {
      if (!this.deps.accepting()) {
        this.releaseHeld();
        return;
      }
      if (this.#wait() !== undefined) return;
      held.remove(next);
      // Closed, and its 'close' not emitted yet: nothing to admit.
      this.#let(next, next.socket.destroyed ? 'gone' : 'taken');
      this.#admit(next.req, next.socket, next.head, next.address);
    }
  };

  /** Holds the upgrade; false when the queue is full or holding is off (refuse it). */
  #hold(req: IncomingMessage, socket: Duplex, head: Buffer, address: string | undefined, workerId: string): boolean {
    const held = this.#held;
    if (held === undefined) return false;
    const entry: Held = {
      req,
      socket,
      head,
      address,
      workerId,
      gone: () => {
        if (held.remove(entry)) this.#let(entry, 'gone');
      },
      cut: () => socket.destroy(),
    };
    if (!held.hold(entry)) return false;
    socket.once('close', entry.gone);
    // Node leaves an upgraded socket unread, so a peer that gave up would go unnoticed until its turn:
    // read it. A client sends nothing before the 101 (RFC 6455, 4.1): data, or its end, means it left.
    socket.on('data', entry.cut);
    socket.on('end', entry.cut);
    this.deps.hold?.metrics.upgradesHeld.set(held.size);
    return true;
  }

  /** The entry has left the queue (taken, expired, its peer gone, shutdown): counted, its close watch removed. */
  #let(held: Held, outcome: 'taken' | 'expired' | 'gone' | 'shutdown'): void {
    held.socket.off('close', held.gone);
    held.socket.off('data', held.cut);
    held.socket.off('end', held.cut);
    // Unread again until ws takes it (#admit resumes it then), as Node hands over an upgraded socket.
    held.socket.pause();
    const metrics = this.deps.hold?.metrics;
    metrics?.upgradeHolds.inc({ outcome });
    metrics?.upgradesHeld.set(this.#held?.size ?? 0);
  }

  /** Why the master cannot take an upgrade now; undefined: it can. */
  #wait(): Wait | undefined {
    if (!this.deps.view.loaded) {
      // Without holding while loading, decideAdmission answers it (503, with Retry-After unless the database fails).
      return this.#held !== undefined && this.deps.hold?.whileLoading() === true ? 'loading' : undefined;
    }
    return this.#atBound() ? 'busy' : undefined;
  }

  #refusalFor(wait: Wait, workerId: string | undefined): Refusal {
    if (wait === 'loading') return notLoaded(workerId, this.deps.loadingRetryAfterS?.());
    return this.#busy();
  }

  /** The admission proper: the decision from the view, then the hand-over to ws or the refusal. */
  #admit(req: IncomingMessage, socket: Duplex, head: Buffer, address: string | undefined): void {
    if (socket.destroyed) return;
    const { view, addresses, verifyToken, checkSourceAddress, logger, failures } = this.deps;
    const mayRefresh = (): boolean => failures?.saturated !== true;
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
        socket.off('error', IGNORE);
        // A socket that was held was paused when it was taken (#let); ws reads it from here.
        if (socket.isPaused()) socket.resume();
        this.deps.wss.handleUpgrade(req, socket, head, (ws) => this.deps.onAdmitted(ws, decision, address));
      })
      .catch((error: unknown) => {
        logger.error({ error: error instanceof Error ? error.message : String(error) }, 'upgrade failed');
        socket.destroy();
      })
      // One decision fewer in flight (the admitted session, if any, counts now as awaiting its hello).
      .finally(this.takeHeld);
  }

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
  #busy(): Refusal {
    const retryAfterS = this.deps.inFlight?.retryAfterS();
    // No workerId: the refusal says nothing about the worker, and a worker named in a refusal gets a
    // history event (RefusalLog.onWorkerRefused): in a 19,000-agent storm ~11,000 database inserts.
    return { ok: false, status: 503, reason: 'master busy admitting other agents; try again later', metric: 'busy', ...(retryAfterS === undefined ? {} : { retryAfterS }) };
  }

  /** Whether the admissions in flight are at their bound (see #busy). */
  #atBound(): boolean {
    const limit = this.deps.inFlight;
    return limit !== undefined && this.#deciding + limit.awaitingHello() >= limit.max;
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
    socket.on('error', IGNORE);
    // 'unknown path', not 'unknown worker': the agent tells a wrong URL path from an unregistered worker by this body.
    this.#refuse(req, socket, { ok: false, status: 404, reason: 'unknown path', metric: 'bad_path' }, addressOf(req.socket));
  };

  #refuse(req: IncomingMessage, socket: Duplex, refusal: Refusal, address: string | undefined): void {
    this.deps.refusals.upgrade(refusal, req.headers, address);
    refuseUpgrade(socket, refusal.status, refusal.answer ?? refusal.reason, refusal.retryAfterS);
  }
}
