import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { LogBudget } from '../admission/log-budget.js';
import type { AdminTokenStore } from '../../registry/admin-token-store.js';
import { authenticateAdmin, bearerOf, sendAuthRefusal, type AdminAuthLimit } from './admin-auth.js';
import type { RouteHandler } from './fleet-api.js';
import type { WebSession } from './web-sessions.js';
import type { FleetFeed, FleetSnapshot } from './fleet-feed.js';
import { SECURITY_HEADERS, safeJson, sendText } from './respond.js';
import { every, type Clock } from '../clock.js';

export const EVENTS_PATH = '/api/events';

export interface EventsStreamDeps {
  adminTokens: Pick<AdminTokenStore, 'verify' | 'isLive' | 'liveIds'>;
  feed: Pick<FleetFeed, 'subscribe'>;
  logger: Logger;
  /** Bounds the lines of refused credentials. */
  refusalBudget?: Pick<LogBudget, 'allow'>;
  /** Bounds failed credentials per address and in total, and the database reads they cost. */
  authLimit?: AdminAuthLimit;
  /** The page's session of a request without a Bearer header (its cookie); undefined: none. */
  sessionOf?: (req: IncomingMessage) => WebSession | undefined;
  /** Whether a session still lasts (not signed out, not expired). */
  sessionLasts?: (sessionId: string) => boolean;
  clock: Clock;
  /** A comment line this often on each stream (a proxy's idle timeout must not close a quiet one); the credentials are re-read as often. */
  keepaliveMs: number;
  /** Open streams at most, all tokens together; past it: 503. */
  maxStreams: number;
  /** Open streams at most per admin token (its sessions and Bearer streams together); past it: 429. */
  maxStreamsPerToken: number;
}

/** An SSE comment: ignored by EventSource, but bytes on the wire. */
export const KEEPALIVE = ': keepalive\n\n';
const KEEPALIVE_BYTES = Buffer.from(KEEPALIVE);

/** One `fleet` event: the whole registry, as `/api/workers` gives it, and the master's time. */
export function fleetEvent(snapshot: FleetSnapshot): string {
  return `event: fleet\ndata: ${safeJson({ now: snapshot.at, workers: snapshot.workers })}\n\n`;
}

/**
 * One `beats` event: what changed since the event before on this stream was
 * heartbeats alone, so only those go: groups of worker ids whose
 * last_heartbeat and updated_at took the same values, and the master's time.
 * The page sets those two fields of the rows named and keeps the rest. At
 * 10,000 agents that is ~150 KB every 5 s instead of ~2.5 MB of whole fleet.
 */
export function beatsEvent(snapshot: FleetSnapshot): string {
  return `event: beats\ndata: ${safeJson({ now: snapshot.at, beats: snapshot.beats?.groups ?? [] })}\n\n`;
}

type EndReason = 'revoked' | 'signed out' | 'client does not read';

/** One open stream: whose it is, and what waits for its client to read. */
interface Stream {
  res: ServerResponse;
  tokenId: string;
  sessionId: string | undefined;
  /** The seq of the last snapshot written to it (undefined: none yet): a `beats` event that follows it may stand for the next one. */
  sentSeq: number | undefined;
  /** The latest snapshot not yet written because the client had not read the one before (only the latest is kept). */
  pending: FleetSnapshot | undefined;
  /** The client had not read what was written when the previous keepalive came. */
  stalled: boolean;
  unsubscribe: () => void;
}

/**
 * `GET /api/events`: Server-Sent Events of the fleet. Each stream is a
 * listener of the one shared feed, so a hundred open pages cost the database
 * what one does; each snapshot is serialised once and the same bytes are
 * written to every stream (a `beats` event where the stream has the snapshot
 * before and only heartbeats moved, else a whole `fleet` event). A client that does not read gets no more until it
 * has (it skips to the latest snapshot: at most one waits per stream), and
 * one that has read nothing for a whole keepalive is closed. The credential is
 * checked at every event and keepalive: the live token ids are read once per
 * keepalive for all streams together, a session is looked up in memory, and a
 * stream whose token was revoked or whose session signed out is ended.
 */
export function createEventsStream(deps: EventsStreamDeps): RouteHandler {
  const { logger } = deps;
  const streams = new Set<Stream>();
  const perToken = new Map<string, number>();
  /** Live admin token ids as last read (undefined: not read yet, or the database failed: no stream is ended for that). */
  let liveIds: Set<string> | undefined;
  let stopTicker: (() => void) | undefined;
  let whole: { snapshot: FleetSnapshot; bytes: Buffer } | undefined;
  let beats: { snapshot: FleetSnapshot; bytes: Buffer } | undefined;

  /**
   * The event that brings a stream from the snapshot it has to this one: the
   * heartbeats alone when it has the one they follow, else the whole fleet.
   * Each form is serialised at most once per snapshot, for all streams, and
   * the whole fleet only when some stream needs it (a new one, one that
   * skipped a snapshot, or a change other than heartbeats).
   */
  const bytesOf = (snapshot: FleetSnapshot, sentSeq: number | undefined): Buffer => {
    if (snapshot.beats !== undefined && sentSeq !== undefined && snapshot.beats.afterSeq === sentSeq) {
      if (beats?.snapshot !== snapshot) beats = { snapshot, bytes: Buffer.from(beatsEvent(snapshot)) };
      return beats.bytes;
    }
    if (whole?.snapshot !== snapshot) whole = { snapshot, bytes: Buffer.from(fleetEvent(snapshot)) };
    return whole.bytes;
  };

  const end = (stream: Stream, reason: EndReason): void => {
    logger.info({ token_id: stream.tokenId, reason }, 'event stream ended');
    stream.res.end();
    // A client that does not read would hold the socket open past end(): it gets no grace.
    if (reason === 'client does not read') stream.res.destroy();
  };

  const credentialLasts = (stream: Stream): EndReason | null => {
    if (stream.sessionId !== undefined && deps.sessionLasts?.(stream.sessionId) === false) return 'signed out';
    if (liveIds !== undefined && !liveIds.has(stream.tokenId)) return 'revoked';
    return null;
  };

  /** Writes unless the client still has not read the last write; then only the latest snapshot is kept for when it does. */
  const sendSnapshot = (stream: Stream, snapshot: FleetSnapshot): void => {
    if (stream.res.writableNeedDrain) {
      stream.pending = snapshot;
      return;
    }
    stream.res.write(bytesOf(snapshot, stream.sentSeq));
    stream.sentSeq = snapshot.seq;
  };

  const tick = async (): Promise<void> => {
    try {
      liveIds = await deps.adminTokens.liveIds();
    } catch (error) {
      // The database is down: the streams go on (their tokens were live when last read).
      logger.debug({ error: error instanceof Error ? error.message : String(error) }, 'event streams: admin tokens not re-read');
    }
    for (const stream of streams) {
      const ended = credentialLasts(stream);
      if (ended !== null) end(stream, ended);
      else if (stream.res.writableNeedDrain && stream.stalled) end(stream, 'client does not read');
      else {
        stream.stalled = stream.res.writableNeedDrain;
        if (!stream.res.writableNeedDrain) stream.res.write(KEEPALIVE_BYTES);
      }
    }
  };

  const refuse = (res: ServerResponse, status: 429 | 503, text: string): void => {
    sendText(res, status, text, { 'Retry-After': '30' });
  };

  const open = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const auth = await authenticateAdmin(req, deps.adminTokens, logger, bearerOf(req) ?? deps.sessionOf?.(req), deps.refusalBudget, deps.authLimit);
    if (!auth.ok) {
      sendAuthRefusal(res, auth.status);
      return;
    }
    if (req.socket.destroyed) return;
    if (streams.size >= deps.maxStreams) {
      logger.warn({ token_id: auth.tokenId, open: streams.size }, 'event stream refused: too many open');
      refuse(res, 503, `too many event streams open on this master (${deps.maxStreams}); try again later\n`);
      return;
    }
    const mine = perToken.get(auth.tokenId) ?? 0;
    if (mine >= deps.maxStreamsPerToken) {
      logger.warn({ token_id: auth.tokenId, open: mine }, 'event stream refused: too many open for this token');
      refuse(res, 429, `too many event streams open for this admin token (${deps.maxStreamsPerToken}); close a page first\n`);
      return;
    }
    perToken.set(auth.tokenId, mine + 1);
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    // The browser reconnects by itself 2 s after the master restarts or the stream drops.
    res.write('retry: 2000\n\n');
    const stream: Stream = { res, tokenId: auth.tokenId, sessionId: auth.sessionId, sentSeq: undefined, pending: undefined, stalled: false, unsubscribe: () => undefined };
    streams.add(stream);
    res.on('drain', () => {
      stream.stalled = false;
      const pending = stream.pending;
      stream.pending = undefined;
      if (pending !== undefined) sendSnapshot(stream, pending);
    });
    stream.unsubscribe = deps.feed.subscribe((snapshot) => {
      const ended = credentialLasts(stream);
      if (ended !== null) end(stream, ended);
      else sendSnapshot(stream, snapshot);
    });
    stopTicker ??= every(deps.clock, deps.keepaliveMs, () => void tick());
    res.on('close', () => {
      stream.unsubscribe();
      streams.delete(stream);
      const left = (perToken.get(stream.tokenId) ?? 1) - 1;
      if (left > 0) perToken.set(stream.tokenId, left);
      else perToken.delete(stream.tokenId);
      if (streams.size === 0) {
        stopTicker?.();
        stopTicker = undefined;
      }
    });
  };
  return (req, res, path) => {
    if (path !== EVENTS_PATH) return false;
    if (req.method !== 'GET') {
      sendText(res, 405, 'method not allowed\n', { Allow: 'GET' });
      return true;
    }
    open(req, res).catch((error: unknown) => {
      logger.error({ error: error instanceof Error ? error.message : String(error) }, 'event stream failed');
      res.destroy();
    });
    return true;
  };
}
