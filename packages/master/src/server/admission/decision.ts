import type { IncomingHttpHeaders } from 'node:http';
import { ACCEPTED_PROTOCOL_VERSIONS, HEADERS, NOT_ADMITTED, isValidWorkerId, parseBearer, protocolVersionFromHeader, type ProtocolVersion } from '@cluster/protocol';
import type { RefusalReason } from '../../metrics/metrics.js';
import type { AddressMatcher } from './address.js';
import type { AdmissionView, ViewEntry } from './view.js';
import type { TokenVerifier } from '../ports.js';

export interface Refusal {
  ok: false;
  status: 400 | 401 | 403 | 404 | 405 | 409 | 426 | 429 | 503;
  /** Short text for the log, and the HTTP body unless `answer` says otherwise; never peer-supplied. */
  reason: string;
  /** The HTTP body when the peer must not learn the reason (an unknown id and a wrong token read alike). */
  answer?: string;
  metric: RefusalReason;
  /** Set once the id passed validation. */
  workerId?: string;
  /** Sent as Retry-After (seconds): the master is starting and says when to come back; the agent waits that long instead of backing off further. */
  retryAfterS?: number;
}

export interface Admitted {
  ok: true;
  workerId: string;
  /** The hash the token matched: a later change of it closes the session (4401). */
  tokenHash: string;
  /** The worker_ip admitted against: a later change of it closes the session (4403). */
  workerIp: string;
  /** View refresh sequence at admission: only a later refresh may close the session (session/sessions-to-close.ts). */
  viewSeq: number;
  /** The protocol version the agent asked for (x-protocol-version): its messages are parsed with that version's schemas. */
  protocolVersion: ProtocolVersion;
}

export type AdmissionDecision = Admitted | Refusal;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value;
}

export type HeaderCheck = { ok: true; workerId: string; token: string | undefined; protocolVersion: ProtocolVersion } | Refusal;

/** The 426's text: names every version this master accepts (an agent steps down to an older one it speaks). */
export const UNSUPPORTED_VERSION_REASON = `protocol version ${ACCEPTED_PROTOCOL_VERSIONS.join(' or ')} required`;

/** The checks that need nothing but the request: version and id syntax. */
export function checkHeaders(headers: IncomingHttpHeaders): HeaderCheck {
  // Any accepted version, not only the newest: agents of the previous release keep working while the fleet is upgraded.
  const protocolVersion = protocolVersionFromHeader(single(headers[HEADERS.protocolVersion]));
  if (protocolVersion === undefined) {
    return { ok: false, status: 426, reason: UNSUPPORTED_VERSION_REASON, metric: 'unsupported_version' };
  }
  const workerId = single(headers[HEADERS.workerId]);
  if (!isValidWorkerId(workerId)) {
    return { ok: false, status: 400, reason: 'missing or invalid worker id', metric: 'bad_worker_id' };
  }
  return { ok: true, workerId, token: parseBearer(single(headers[HEADERS.authorization])), protocolVersion };
}

export type RequestCheck = { ok: true; workerId: string; token: string; protocolVersion: ProtocolVersion } | Refusal;

/**
 * Everything an upgrade can be refused for without the view: the headers'
 * checks and a token present. A request that passes may still be refused once
 * the view is read; one that fails is refused alike whether the view is loaded or not.
 */
export function checkRequest(headers: IncomingHttpHeaders): RequestCheck {
  const checked = checkHeaders(headers);
  if (!checked.ok) return checked;
  const { workerId, token, protocolVersion } = checked;
  // A missing token stays missing whatever the database says, and is answered alike for every id.
  if (token === undefined) {
    return { ok: false, status: 401, reason: 'missing or malformed bearer token', metric: 'unauthorized', workerId };
  }
  return { ok: true, workerId, token, protocolVersion };
}

/** The refusal while the view is not loaded yet (the master is starting). */
export function notLoaded(workerId: string | undefined, retryAfterS: number | undefined): Refusal {
  return {
    ok: false,
    status: 503,
    reason: 'registry not loaded yet',
    metric: 'unavailable',
    ...(workerId === undefined ? {} : { workerId }),
    ...(retryAfterS === undefined ? {} : { retryAfterS }),
  };
}

export interface AdmissionDeps {
  view: AdmissionView;
  addresses: AddressMatcher;
  verifyToken: TokenVerifier;
  checkSourceAddress: boolean;
  /**
   * Whether a refusal may wait for a re-read of the view (false while refused
   * upgrades flood in: FailureLimit.saturated); without one, the refusal
   * stands on the view in memory. Absent: always.
   */
  mayRefresh?: () => boolean;
  /** Retry-After (seconds) while the view is not loaded yet (the master is starting); undefined or absent: none (the agent's own backoff). */
  loadingRetryAfterS?: () => number | undefined;
}

/**
 * Decides an upgrade from the in-memory view. A refusal that depends on what
 * the view holds (unknown worker, token, address) is confirmed against a
 * refresh that started after the request arrived, so a worker registered (or a
 * token rotated) a moment ago is admitted at once; those refreshes are shared
 * and rate-limited by the view. Nothing here writes to the database.
 */
export async function decideAdmission(
  deps: AdmissionDeps,
  headers: IncomingHttpHeaders,
  remoteAddress: string | undefined,
): Promise<AdmissionDecision> {
  const checked = checkRequest(headers);
  if (!checked.ok) return checked;
  const { workerId, token, protocolVersion } = checked;
  if (!deps.view.loaded) return notLoaded(workerId, deps.loadingRetryAfterS?.());
  const seq = deps.view.startedSeq;
  const first = await judge(deps, workerId, deps.view.get(workerId), token, remoteAddress, seq, protocolVersion);
  if (first.ok || deps.mayRefresh?.() === false) return first;
  const refreshed = await deps.view.fresh();
  if (!refreshed) {
    return { ok: false, status: 503, reason: 'registry unavailable', metric: 'unavailable', workerId };
  }
  // No negative cache: an id refused a moment ago may have been registered
  // since, and must work at once; fresh() is shared and rate-limited, which is
  // what bounds the reads of an unknown-id flood.
  return judge(deps, workerId, deps.view.get(workerId), token, remoteAddress, deps.view.startedSeq, protocolVersion);
}

function unknown(workerId: string): Refusal {
  return { ok: false, status: 401, reason: 'unknown worker', answer: NOT_ADMITTED, metric: 'unknown_worker', workerId };
}

async function judge(
  deps: AdmissionDeps,
  workerId: string,
  entry: ViewEntry | undefined,
  token: string,
  remoteAddress: string | undefined,
  viewSeq: number,
  protocolVersion: ProtocolVersion,
): Promise<AdmissionDecision> {
  if (entry === undefined) return unknown(workerId);
  if (entry.tokenHash === undefined || !deps.verifyToken(token, entry.tokenHash)) {
    return { ok: false, status: 401, reason: 'invalid token', answer: NOT_ADMITTED, metric: 'unauthorized', workerId };
  }
  if (deps.checkSourceAddress) {
    const allowed = remoteAddress !== undefined && (await deps.addresses.matches(entry.workerIp, remoteAddress));
    if (!allowed) {
      return { ok: false, status: 403, reason: 'source address does not match worker_ip', metric: 'forbidden', workerId };
    }
  }
  return { ok: true, workerId, tokenHash: entry.tokenHash, workerIp: entry.workerIp, viewSeq, protocolVersion };
}
