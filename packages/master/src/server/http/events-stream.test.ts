import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { ManualClock, captureLogger } from '../test-support/fakes.js';
import { createEventsStream, type EventsStreamDeps } from './events-stream.js';
import type { FleetListener, FleetSnapshot } from './fleet-feed.js';

/**
 * The event streams on a real HTTP server, with the feed, the token store and
 * the clock as fakes behind their narrow interfaces: what a stream costs when
 * its client does not read, and when a stream ends without being asked.
 */
const KEEPALIVE_MS = 1_000;

interface Setup {
  port: number;
  clock: ManualClock;
  live: Set<string>;
  signedOut: Set<string>;
  /** The server side of every stream opened, in order. */
  responses: ServerResponse[];
  emit(snapshot: FleetSnapshot): void;
  lines: ReturnType<typeof captureLogger>['lines'];
}

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  server = undefined;
});

async function setup(options: Partial<EventsStreamDeps> = {}): Promise<Setup> {
  const clock = new ManualClock();
  const live = new Set(['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb']);
  const signedOut = new Set<string>();
  const listeners = new Set<FleetListener>();
  const { logger, lines } = captureLogger();
  const handler = createEventsStream({
    adminTokens: {
      // The Bearer token is the token's id here, so that a test names whose stream it opens.
      verify: (token) => Promise.resolve(live.has(token) ? token : null),
      isLive: (id) => Promise.resolve(live.has(id)),
      liveIds: () => Promise.resolve(new Set(live)),
    },
    feed: {
      subscribe: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    },
    sessionOf: (req) => {
      const id = req.headers['x-session'];
      return typeof id === 'string' ? { sessionId: id, tokenId: 'aaaaaaaaaaaaaaaa' } : undefined;
    },
    sessionLasts: (id) => !signedOut.has(id),
    logger,
    clock,
    keepaliveMs: KEEPALIVE_MS,
    maxStreams: 100,
    maxStreamsPerToken: 100,
    ...options,
  });
  const responses: ServerResponse[] = [];
  server = createServer((req, res) => {
    responses.push(res);
    handler(req, res, '/api/events');
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { port, clock, live, signedOut, responses, lines, emit: (s) => listeners.forEach((l) => l(s)) };
}

interface Client {
  status: number;
  res: IncomingMessage;
  body: () => string;
  ended: Promise<void>;
}

function open(port: number, headers: Record<string, string>, read = true): Promise<Client> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path: '/api/events', agent: false, headers }, (res) => {
      let body = '';
      const ended = new Promise<void>((r) => res.on('close', r));
      if (read) res.setEncoding('utf8').on('data', (c: string) => (body += c));
      else res.socket.pause();
      resolve({ status: res.statusCode ?? 0, res, body: () => body, ended });
    });
    req.on('error', reject);
    req.end();
  });
}

const bearer = (id: string): Record<string, string> => ({ Authorization: `Bearer ${id}` });

/** A snapshot of about `bytes`, whose serialisations are counted. */
function snapshot(bytes: number, counter: { n: number }, at = 0): FleetSnapshot {
  const worker = { toJSON: () => ((counter.n += 1), { worker_id: 'w', note: 'x'.repeat(bytes) }) };
  return { seq: at + 1, at, workers: [worker as unknown as FleetSnapshot['workers'][number]] };
}

/** The SSE events in a body, parsed: name and data. */
function eventsIn(body: string): { event: string; data: unknown }[] {
  return body
    .split('\n\n')
    .map((block) => /^event: (\w+)\ndata: (.*)$/s.exec(block))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ event: m[1] ?? '', data: JSON.parse(m[2] ?? '') as unknown }));
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

describe('event streams', () => {
  test('a snapshot is serialised once for all streams', async () => {
    const s = await setup();
    const clients = await Promise.all(Array.from({ length: 5 }, () => open(s.port, bearer('aaaaaaaaaaaaaaaa'))));
    const counter = { n: 0 };
    s.emit(snapshot(100, counter));
    await until('every stream has the event', () => clients.every((c) => c.body().includes('event: fleet')));
    expect(counter.n).toBe(1);
  });

  test('heartbeats alone go as a `beats` event to a stream that has the snapshot before, serialised once; a stream opened later gets the whole fleet', async () => {
    const s = await setup();
    const early = await Promise.all(Array.from({ length: 3 }, () => open(s.port, bearer('aaaaaaaaaaaaaaaa'))));
    const w = (beat: number): FleetSnapshot['workers'][number] => ({ worker_id: 'w-1', is_active: true, last_heartbeat: beat, updated_at: '2026-01-01T00:00:00.000Z' });
    s.emit({ seq: 1, at: 1_000, workers: [w(1)] });
    await until('the whole fleet on every stream', () => early.every((c) => eventsIn(c.body()).length === 1));
    const groups = [{ last_heartbeat: 6, updated_at: '2026-01-01T00:00:06.000Z', worker_ids: ['w-1'] }];
    const counted = { n: 0 };
    const worker = { toJSON: () => ((counted.n += 1), w(6)) } as unknown as FleetSnapshot['workers'][number];
    s.emit({ seq: 2, at: 6_000, workers: [worker], beats: { afterSeq: 1, groups } });
    await until('the beats on every stream', () => early.every((c) => eventsIn(c.body()).length === 2));
    for (const c of early) expect(eventsIn(c.body())[1]).toEqual({ event: 'beats', data: { now: 6_000, beats: groups } });
    // Nobody needed the whole fleet of snapshot 2.
    expect(counted.n).toBe(0);
    const late = await open(s.port, bearer('bbbbbbbbbbbbbbbb'));
    // Heartbeats since snapshot 2, which the late stream never had: it gets the whole fleet instead.
    s.emit({ seq: 3, at: 11_000, workers: [w(11)], beats: { afterSeq: 2, groups } });
    await until('an event on the late stream', () => eventsIn(late.body()).length === 1);
    expect(eventsIn(late.body())[0]).toEqual({ event: 'fleet', data: { now: 11_000, workers: [w(11)] } });
    await until('the beats on the early streams', () => early.every((c) => eventsIn(c.body()).length === 3));
    expect(early.map((c) => eventsIn(c.body())[2]?.event)).toEqual(['beats', 'beats', 'beats']);
  });

  test('streams that never read: buffered bytes stay bounded (skipped to the latest), and they are closed after a keepalive without reading', async () => {
    const s = await setup();
    const clients = await Promise.all(Array.from({ length: 5 }, () => open(s.port, bearer('aaaaaaaaaaaaaaaa'), false)));
    const counter = { n: 0 };
    const eventBytes = 256 * 1024;
    for (let i = 0; i < 60; i++) {
      s.emit(snapshot(eventBytes, counter, i));
      await new Promise((r) => setImmediate(r));
    }
    // 60 events of 256 KiB is 15 MiB a stream; each holds at most one event past the socket's high-water mark.
    const buffered = s.responses.map((res) => res.writableLength);
    expect(Math.max(...buffered)).toBeLessThanOrEqual(eventBytes + 64 * 1024);
    await s.clock.advanceAsync(KEEPALIVE_MS);
    await s.clock.advanceAsync(KEEPALIVE_MS);
    // The clients read nothing, so they would not notice; the master's side is closed.
    await until('every stream closed', () => s.responses.every((res) => res.destroyed));
    for (const c of clients) c.res.destroy();
    expect(s.lines.filter((l) => l.msg === 'event stream ended' && l.reason === 'client does not read')).toHaveLength(5);
  });

  test('a stream whose token is revoked ends at the next keepalive; another token\'s stream goes on', async () => {
    const s = await setup();
    const revoked = await open(s.port, bearer('aaaaaaaaaaaaaaaa'));
    const other = await open(s.port, bearer('bbbbbbbbbbbbbbbb'));
    s.live.delete('aaaaaaaaaaaaaaaa');
    await s.clock.advanceAsync(KEEPALIVE_MS);
    await revoked.ended;
    expect(other.res.destroyed).toBe(false);
    await until('a keepalive on the other', () => other.body().includes(': keepalive'));
    expect(s.lines.some((l) => l.msg === 'event stream ended' && l.reason === 'revoked')).toBe(true);
  });

  test('a stream whose token was revoked gets no further event, even before the keepalive', async () => {
    const s = await setup();
    const client = await open(s.port, bearer('aaaaaaaaaaaaaaaa'));
    await s.clock.advanceAsync(KEEPALIVE_MS);
    s.live.delete('aaaaaaaaaaaaaaaa');
    await s.clock.advanceAsync(KEEPALIVE_MS);
    s.emit(snapshot(10, { n: 0 }));
    await client.ended;
    expect(client.body()).not.toContain('event: fleet');
  });

  test('a stream of a web session that signed out ends at the next keepalive', async () => {
    const s = await setup();
    const client = await open(s.port, { 'x-session': 'session-1' });
    expect(client.status).toBe(200);
    s.signedOut.add('session-1');
    await s.clock.advanceAsync(KEEPALIVE_MS);
    await client.ended;
    expect(s.lines.some((l) => l.msg === 'event stream ended' && l.reason === 'signed out')).toBe(true);
  });

  test('caps: past the per-token cap 429, past the total cap 503, each with a reason; a closed stream frees its place', async () => {
    const s = await setup({ maxStreams: 3, maxStreamsPerToken: 2 });
    const a1 = await open(s.port, bearer('aaaaaaaaaaaaaaaa'));
    await open(s.port, bearer('aaaaaaaaaaaaaaaa'));
    const a3 = await open(s.port, bearer('aaaaaaaaaaaaaaaa'));
    expect(a3.status).toBe(429);
    await a3.ended;
    expect(a3.body()).toContain('too many event streams open for this admin token (2)');
    expect((await open(s.port, bearer('bbbbbbbbbbbbbbbb'))).status).toBe(200);
    const b2 = await open(s.port, bearer('bbbbbbbbbbbbbbbb'));
    expect(b2.status).toBe(503);
    await b2.ended;
    expect(b2.body()).toContain('too many event streams open on this master (3)');
    a1.res.destroy();
    await until('the place is free', () => s.responses[0]?.closed === true);
    expect((await open(s.port, bearer('bbbbbbbbbbbbbbbb'))).status).toBe(200);
  });
});
