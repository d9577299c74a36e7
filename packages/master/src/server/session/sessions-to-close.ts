import { CloseCode } from '@cluster/protocol';
import type { SessionEndCause } from './agent-session.js';
import type { RefreshResult } from '../admission/view.js';

export interface WatchedSession {
  readonly workerId: string;
  readonly tokenHash: string;
  /** worker_ip at admission; undefined: not watched. */
  readonly workerIp?: string | undefined;
  readonly viewSeq: number;
}

export interface SessionVerdict<S> {
  session: S;
  code: number;
  reason: string;
  cause: SessionEndCause;
}

/**
 * After each view refresh: sessions whose worker is gone from the registry are
 * closed 4404, those whose credential changed 4401, those whose worker_ip
 * changed (`worker update --ip`) 4403: the agent reconnects and is admitted
 * only from the new address. Only a refresh that
 * started after the session was admitted may judge it; an older one may have
 * read the database before the worker was registered.
 */
export function sessionsToClose<S extends WatchedSession>(sessions: Iterable<S>, refresh: RefreshResult): SessionVerdict<S>[] {
  const verdicts: SessionVerdict<S>[] = [];
  for (const session of sessions) {
    if (refresh.seq <= session.viewSeq) continue;
    const entry = refresh.entries.get(session.workerId);
    if (entry === undefined) {
      verdicts.push({ session, code: CloseCode.unregistered, reason: 'worker unregistered', cause: 'unregistered' });
    } else if (entry.tokenHash !== session.tokenHash) {
      verdicts.push({ session, code: CloseCode.unauthorized, reason: 'credential changed', cause: 'unauthorized' });
    } else if (session.workerIp !== undefined && entry.workerIp !== session.workerIp) {
      verdicts.push({ session, code: CloseCode.forbidden, reason: 'worker_ip changed', cause: 'address_changed' });
    }
  }
  return verdicts;
}
