import { request, type IncomingMessage } from 'node:http';
import type { CommandStartedEvent } from 'mongodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createAdminTokenStore } from '../../packages/master/src/registry/admin-token-store.js';
import { openHarness, waitFor, type Harness, type RunningMaster } from './helpers/harness.js';
import { RawAgent } from './helpers/raw-agent.js';

/** GET /api/events over real HTTP: many open streams share one database read per refresh. */
let h: Harness;
let m: RunningMaster;
let token: string;
let agentToken: string;
/** The feed's reads: a find of every WORKER_REGISTRY document, whole (the admission view projects). */
const feedReads: number[] = [];

/** The feed's reads of the admission version (one find by _id a tick). */
const versionFinds: number[] = [];
let otherToken: string;

interface FleetEvent {
  now: number;
  workers: { worker_id: string; is_active: boolean; worker_ip?: string; last_heartbeat?: number; updated_at?: string | null }[];
}

interface BeatsEvent {
  now: number;
  beats: { last_heartbeat: number; updated_at: string | null; worker_ids: string[] }[];
}

class Stream {
  readonly events: FleetEvent[] = [];
  /** How many of them came as `beats` events (heartbeats alone, applied to the event before). */
  beatsEvents = 0;
  /** When each keepalive comment arrived (performance.now()). */
  readonly keepalives: number[] = [];
  #buffer = '';
  constructor(readonly res: IncomingMessage) {
    res.setEncoding('utf8').on('data', (chunk: string) => {
      this.#buffer += chunk;
      let end: number;
      while ((end = this.#buffer.indexOf('\n\n')) !== -1) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        if (block === ': keepalive') this.keepalives.push(performance.now());
        const data = /^event: fleet\ndata: (.*)$/s.exec(block)?.[1];
        if (data !== undefined) this.events.push(JSON.parse(data) as FleetEvent);
        // Heartbeats alone since the event before: applied to it as the page does.
        const beats = /^event: beats\ndata: (.*)$/s.exec(block)?.[1];
        if (beats !== undefined) {
          this.events.push(this.#applied(JSON.parse(beats) as BeatsEvent));
          this.beatsEvents += 1;
        }
      }
    });
  }
  #applied(beats: BeatsEvent): FleetEvent {
    const last = this.last;
    if (last === undefined) throw new Error('a beats event before any fleet event');
    const workers = last.workers.map((w) => {
      const group = beats.beats.find((g) => g.worker_ids.includes(w.worker_id));
      return group === undefined ? w : { ...w, last_heartbeat: group.last_heartbeat, updated_at: group.updated_at };
    });
    return { now: beats.now, workers };
  }
  get last(): FleetEvent | undefined {
    return this.events.at(-1);
  }
  active(id: string): boolean | undefined {
    return this.last?.workers.find((w) => w.worker_id === id)?.is_active;
  }
  close(): void {
    this.res.destroy();
  }
}

function openStream(bearer: string | undefined, on: RunningMaster = m, cookie?: string): Promise<{ status: number; stream: Stream; type: string | undefined }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = bearer === undefined ? {} : { Authorization: `Bearer ${bearer}` };
    if (cookie !== undefined) headers.Cookie = cookie;
    const req = request(`${on.http}/api/events`, { agent: false, headers }, (res) =>
      resolve({ status: res.statusCode ?? 0, stream: new Stream(res), type: res.headers['content-type'] }),
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  h = await openHarness();
  token = (await createAdminTokenStore(h.db).issue()).token;
  agentToken = await h.register('w-1');
  otherToken = await h.register('w-2', '10.0.0.2');
  // 50 streams of one token below: as many pages as that (the default allows 10 a token).
  // The admission view reads the version too: every 5 s here (its slowest), so the feed's reads stand out.
  m = await h.startMaster({ maxEventStreamsPerToken: 60, viewRefreshMs: 5_000 });
  m.client.on('commandStarted', (event: CommandStartedEvent) => {
    const cmd = event.command as { find?: unknown; projection?: unknown };
    if (event.commandName === 'find' && cmd.find === 'WORKER_REGISTRY' && cmd.projection === undefined) feedReads.push(performance.now());
    // The admission view reads the version too, every few seconds: only the feed's reads come each second, so both are counted.
    if (event.commandName === 'find' && cmd.find === 'REGISTRY_VERSION') versionFinds.push(performance.now());
  });
});
afterAll(async () => {
  await h.close();
});

describe('GET /api/events', () => {
  test('no credential or a wrong one: 401, no stream', async () => {
    for (const bearer of [undefined, 'B'.repeat(43)]) {
      const { status, stream } = await openStream(bearer);
      expect(status).toBe(401);
      stream.close();
    }
  });

  test('50 open streams: no full read a second (the admission version instead), this master\'s own sessions seen within 2 s', async () => {
    const opened = await Promise.all(Array.from({ length: 50 }, () => openStream(token)));
    const streams = opened.map((o) => o.stream);
    expect(opened.every((o) => o.status === 200 && o.type === 'text/event-stream; charset=utf-8')).toBe(true);
    await waitFor('every stream has the fleet', () => streams.every((s) => s.last?.workers.length === 2));

    const mark = performance.now();
    await new Promise((r) => setTimeout(r, 3_000));
    const reads = feedReads.filter((t) => t >= mark).length;
    const versionReads = versionFinds.filter((t) => t >= mark).length;
    // One timer for all streams: the admission version about once a second (one find by _id; the view's own at most once
    // more), the whole registry not at all (fleetFullReadMs is 60 s by default).
    expect(reads).toBe(0);
    expect(versionReads).toBeGreaterThanOrEqual(2);
    expect(versionReads).toBeLessThanOrEqual(5);

    const agent = await RawAgent.admitted(m.url, { workerId: 'w-1', token: agentToken });
    const connectedAt = performance.now();
    // It beats from its welcome, as an agent does: the streams take up to a second to see it, and the harness's
    // heartbeat timeout is 1 s, so an agent that waited for them was flagged before its first beat.
    agent.startBeating(200);
    await waitFor('every stream sees w-1 active', () => streams.every((s) => s.active('w-1') === true), { timeoutMs: 2_000 });
    const seenActiveMs = performance.now() - connectedAt;
    // Its heartbeats, as this master writes them, move last_heartbeat on the page without a read of the registry.
    const beat = (s: Stream): unknown => s.last?.workers.find((w) => w.worker_id === 'w-1')?.last_heartbeat;
    const firstBeat = beat(streams[0] as Stream);
    // Heartbeats alone go out at most every 5 s (BEATS_ONLY_EVERY_MS).
    await waitFor('a later heartbeat on every stream', () => streams.every((s) => typeof beat(s) === 'number' && beat(s) !== firstBeat), { timeoutMs: 7_000 });
    // …as `beats` events: the heartbeats alone, not the whole fleet again.
    expect(streams.every((s) => s.beatsEvents >= 1)).toBe(true);
    agent.stopBeating();
    await agent.close();
    const closedAt = performance.now();
    await waitFor('every stream sees w-1 inactive', () => streams.every((s) => s.active('w-1') === false), { timeoutMs: 2_000 });
    const seenInactiveMs = performance.now() - closedAt;
    console.log(`fleet events: ${reads} full reads and ${versionReads} version reads in 3 s with 50 streams; connect seen after ${Math.round(seenActiveMs)} ms, clean close after ${Math.round(seenInactiveMs)} ms`);
    expect(seenActiveMs).toBeLessThan(2_000);
    expect(seenInactiveMs).toBeLessThan(2_000);
    expect(feedReads.filter((t) => t >= mark)).toHaveLength(0);

    for (const s of streams) s.close();
    await new Promise((r) => setTimeout(r, 300));
    const afterClose = performance.now();
    await new Promise((r) => setTimeout(r, 2_000));
    // Nobody listens: the feed stops reading.
    expect(feedReads.filter((t) => t >= afterClose)).toHaveLength(0);
    expect(versionFinds.filter((t) => t >= afterClose)).toHaveLength(0);
  });

  test('another master\'s worker, and a write from outside the tools (mongosh) while it serves, show within fleetFullReadMs', async () => {
    const watching = await h.startMaster({ fleetFullReadMs: 2_000 });
    const other = await h.startMaster();
    try {
      const { stream } = await openStream(token, watching);
      await waitFor('first event', () => stream.last !== undefined);
      const agent = await RawAgent.admitted(other.url, { workerId: 'w-2', token: otherToken });
      const connectedAt = performance.now();
      agent.startBeating(200);
      await waitFor('w-2 active on the watching master', () => stream.active('w-2') === true, { timeoutMs: 4_000 });
      const seenMs = performance.now() - connectedAt;
      // While a master serves (it publishes on the write horizon), a write from outside shows within the
      // full-read period; with none serving it waits for the quiet period (fleet-feed.test.ts).
      await h.db.collection('WORKER_REGISTRY').updateOne({ worker_id: 'w-2' }, { $set: { worker_ip: '10.9.9.9' } });
      const patchedAt = performance.now();
      await waitFor('the outside write shows', () => stream.last?.workers.find((w) => w.worker_id === 'w-2')?.worker_ip === '10.9.9.9', { timeoutMs: 4_000 });
      const patchSeenMs = performance.now() - patchedAt;
      agent.stopBeating();
      await agent.close();
      // The other master flags it and leaves the horizon: the withdrawal keeps the full reads coming.
      await waitFor('w-2 inactive on the watching master', () => stream.active('w-2') === false, { timeoutMs: 4_000 });
      console.log(`fleet events: another master's connect seen after ${Math.round(seenMs)} ms, an outside write after ${Math.round(patchSeenMs)} ms (fleetFullReadMs 2 s)`);
      await h.db.collection('WORKER_REGISTRY').updateOne({ worker_id: 'w-2' }, { $set: { worker_ip: '10.0.0.2' } });
      stream.close();
    } finally {
      await other.close();
      await watching.close();
    }
  });

  test('a registration from the admin path shows up on an open stream', async () => {
    const { stream } = await openStream(token);
    await waitFor('first event', () => stream.last !== undefined);
    await h.register('w-3.x_y-z', 'fe80::3');
    await waitFor('w-3 appears', () => stream.active('w-3.x_y-z') === false, { timeoutMs: 2_000 });
    stream.close();
  });

  test('a quiet stream gets a keepalive comment every eventsKeepaliveMs, so a proxy does not close it as idle', async () => {
    const quiet = await h.startMaster({ eventsKeepaliveMs: 300 });
    try {
      const { stream } = await openStream(token, quiet);
      await waitFor('first event', () => stream.last !== undefined);
      const events = stream.events.length;
      await waitFor('three keepalives', () => stream.keepalives.length >= 3, { timeoutMs: 3_000 });
      // Nothing changed in the fleet meanwhile: only comments came, which EventSource ignores.
      expect(stream.events.length).toBe(events);
      const gaps = stream.keepalives.slice(1).map((t, i) => t - (stream.keepalives[i] ?? t));
      expect(Math.min(...gaps)).toBeGreaterThan(150);
      stream.close();
    } finally {
      await quiet.close();
    }
  });

  test('a stream whose token is revoked, and one whose session signs out, end within one keepalive', async () => {
    const store = createAdminTokenStore(h.db);
    const quick = await h.startMaster({ eventsKeepaliveMs: 300 });
    try {
      const issued = await store.issue();
      const { stream } = await openStream(issued.token, quick);
      await waitFor('first event', () => stream.last !== undefined);
      const ended = new Promise<void>((resolve) => stream.res.on('close', resolve));
      await store.revoke(issued.token_id);
      const revokedAt = performance.now();
      await ended;
      const revokedMs = performance.now() - revokedAt;

      const signIn = await fetch(`${quick.http}/login`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `token=${token}`, redirect: 'manual' });
      const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      const page = await openStream(undefined, quick, cookie);
      expect(page.status).toBe(200);
      await waitFor('first event', () => page.stream.last !== undefined);
      const pageEnded = new Promise<void>((resolve) => page.stream.res.on('close', resolve));
      await fetch(`${quick.http}/logout`, { method: 'POST', headers: { Cookie: cookie }, redirect: 'manual' });
      const signedOutAt = performance.now();
      await pageEnded;
      const signedOutMs = performance.now() - signedOutAt;
      console.log(`event streams: ended ${Math.round(revokedMs)} ms after the revocation, ${Math.round(signedOutMs)} ms after the sign-out (keepalive 300 ms)`);
      // One keepalive, and the read of the live token ids it makes.
      expect(revokedMs).toBeLessThan(300 + 500);
      expect(signedOutMs).toBeLessThan(300 + 500);
    } finally {
      await quick.close();
    }
  });

  test('the master closes promptly with a stream open, ending it', async () => {
    const { stream } = await openStream(token);
    await waitFor('first event', () => stream.last !== undefined);
    const ended = new Promise<void>((resolve) => stream.res.on('close', resolve));
    const started = performance.now();
    await m.close();
    await ended;
    expect(performance.now() - started).toBeLessThan(3_000);
  });
});
