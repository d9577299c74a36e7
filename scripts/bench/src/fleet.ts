/**
 * Fleet simulator: one process holding thousands of agents, each built by
 * the real agent's createAgent (the same session code, reconnect backoff and
 * protocol parsing as `cluster-agent run`) with a fixed fake probe and a
 * silent logger. Driven by the coordinator over IPC (see fleet-protocol.ts).
 *
 * The only thing added is a wrapper around the WebSocket it opens: it counts
 * heartbeats, stamps the send time of sampled ones, can silence an agent
 * (no heartbeats, no pongs, no reconnect) without closing its socket, and
 * notes which master welcomed it (several masters: placement.ts).
 */
import { writeFileSync } from 'node:fs';
import { Session as InspectorSession } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket, { type ClientOptions } from 'ws';
import { createAgent, createFakeProbe, createLogger, type Agent } from '../../../packages/agent/dist/index.js';
import { fleetSourceAddress } from './fleet-address.js';
import type { AgentTrace, AttemptRecord, BeatReport, FleetEnvelope, FleetReply, FleetRequest, FleetSpecs, FleetStats } from './fleet-protocol.js';
import { Placement } from './placement.js';
import { sampleProcess } from './procfs.js';
import { summarise, type CpuProfile } from './profile.js';
import { sleep } from './util.js';

interface Holder {
  id: string;
  /** Specs reported by this agent when they differ from the fleet's. */
  specs: FleetSpecs | undefined;
  token: string;
  /** The loopback address it connects from (fleet-address.ts), its worker_ip. */
  address: string;
  agent: Agent | undefined;
  sampled: boolean;
  silenced: boolean;
  lastBeatAt: number | undefined;
  /** Its last TRACE_EVENTS events (what a false flag's agent did, read after the storm). */
  trace: AgentTrace;
}

const TRACE_EVENTS = 32;

function traceEvent(holder: Holder, event: string): void {
  if (holder.trace.length >= TRACE_EVENTS) holder.trace.shift();
  holder.trace.push([event, Date.now()]);
}

/** How late this process's timers fire: with thousands of agents on a busy core, a heartbeat is sent that much late. */
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();

const logger = createLogger({ level: 'silent' });
const holders = new Map<string, Holder>();
let urls: string[] = [];
const placement = new Placement();
let specs: FleetSpecs = { total_cpu: 0, total_memory: 0, total_storage: 0, total_gpu: 0 };
let heartbeatsSent = 0;
let connects = 0;
let beatBuffer: [string, number][] = [];
/** Recent connection attempts (the storm's timeline); the oldest half dropped past the bound. */
let attempts: AttemptRecord[] = [];
const MAX_ATTEMPTS = 200_000;

/** Notes what this attempt got: the first outcome wins (a refusal's 'close' follows its 'unexpected-response'). */
function recordAttempt(ws: WebSocket): void {
  const record: AttemptRecord = [Date.now(), 'pending', null, null];
  if (attempts.length >= MAX_ATTEMPTS) attempts = attempts.slice(MAX_ATTEMPTS / 2);
  attempts.push(record);
  const end = (outcome: string): void => {
    if (record[1] !== 'pending') return;
    record[1] = outcome;
    record[3] = Date.now();
  };
  ws.once('upgrade', () => {
    record[2] = Date.now();
  });
  ws.once('unexpected-response', (_req: unknown, res: { statusCode?: number }) => end(`http-${res.statusCode ?? 0}`));
  ws.once('error', (error: Error & { code?: string }) => end(error.code === 'ECONNREFUSED' ? 'refused' : `error-${error.code ?? 'other'}`));
  ws.once('message', () => end('welcomed'));
  ws.once('close', () => end(record[2] === null ? 'closed-before-upgrade' : 'closed-before-welcome'));
}

function post(message: FleetEnvelope): void {
  process.send?.(message);
}

const HEARTBEAT_PREFIX = '{"type":"heartbeat"';

function connectFor(holder: Holder): (target: string, options: ClientOptions) => WebSocket {
  return (target, options) => {
    // A hung agent does not come back either: the session's retries fail here, before any network.
    if (holder.silenced) throw new Error('silenced by the benchmark');
    connects += 1;
    const ws = new WebSocket(target, { ...options, localAddress: holder.address });
    placement.watch(holder.id, target, ws);
    recordAttempt(ws);
    traceEvent(holder, 'connect');
    ws.once('upgrade', () => traceEvent(holder, '101'));
    ws.once('message', () => traceEvent(holder, 'welcome'));
    ws.once('unexpected-response', () => traceEvent(holder, 'refused'));
    ws.once('close', () => traceEvent(holder, 'close'));
    const send = ws.send.bind(ws) as (...args: unknown[]) => void;
    const pong = ws.pong.bind(ws) as (...args: unknown[]) => void;
    // Own properties shadow the prototype's methods for this socket only.
    Object.assign(ws, {
      send(data: unknown, ...rest: unknown[]): void {
        if (holder.silenced) return;
        if (typeof data === 'string' && data.startsWith(HEARTBEAT_PREFIX)) {
          heartbeatsSent += 1;
          const now = Date.now();
          holder.lastBeatAt = now;
          traceEvent(holder, 'beat');
          if (holder.sampled) beatBuffer.push([holder.id, now]);
        }
        send(data, ...rest);
      },
      // ws answers pings by calling this.pong() (autoPong); a hung agent does not.
      pong(...args: unknown[]): void {
        if (!holder.silenced) pong(...args);
      },
    });
    return ws;
  };
}

function startAgent(holder: Holder): void {
  holder.silenced = false;
  holder.lastBeatAt = undefined;
  const agent = createAgent({
    masterUrl: urls,
    workerId: holder.id,
    token: holder.token,
    agentVersion: 'bench',
    probe: createFakeProbe(holder.specs ?? specs),
    logger,
    connect: connectFor(holder),
  });
  holder.agent = agent;
  void agent.start();
}

/** Agents started and not welcomed yet (connecting, or backing off after a failed try). */
function notYetWelcomed(started: readonly Holder[]): number {
  let n = 0;
  for (const h of started) if (h.agent !== undefined && h.agent.state !== 'open') n += 1;
  return n;
}

/**
 * Starts every agent not started yet, at most `perSecond` a second and with at
 * most `maxInFlight` of them started but not welcomed: an open-loop ramp past
 * what the master admits fills its listen backlog, the agents' welcome timeouts
 * expire there and each retry costs the master another upgrade (at 19,000 on a
 * loaded 2-core machine the ramp never finished). Real fleets do not arrive all
 * at once either; the storm scenario, which is about arrivals all at once, is not paced.
 */
async function ramp(perSecond: number, maxInFlight: number): Promise<number> {
  const t0 = performance.now();
  const todo = [...holders.values()].filter((h) => h.agent === undefined);
  const started: Holder[] = [];
  // Start in small groups every 20 ms: smooth enough, and timers stay cheap.
  const groupEveryMs = 20;
  const perGroup = Math.max(1, Math.round((perSecond * groupEveryMs) / 1000));
  let behindMs = 0;
  for (let i = 0; i < todo.length; i += perGroup) {
    while (notYetWelcomed(started) >= maxInFlight) {
      const waitedFrom = performance.now();
      await sleep(groupEveryMs);
      behindMs += performance.now() - waitedFrom;
    }
    for (const h of todo.slice(i, i + perGroup)) {
      startAgent(h);
      started.push(h);
    }
    const due = t0 + behindMs + ((i + perGroup) / perSecond) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
  }
  return performance.now() - t0;
}

/** Calls close() on each agent (spaced) and replies at once: the close handshakes finish on their own. */
async function closeClean(ids: string[], spacingMs: number): Promise<[string, number][]> {
  const at: [string, number][] = [];
  for (const id of ids) {
    const h = holders.get(id);
    if (h?.agent === undefined) continue;
    at.push([id, Date.now()]);
    void h.agent.close();
    if (spacingMs > 0) await sleep(spacingMs);
  }
  return at;
}

function silence(ids: string[]): [string, number, number | undefined][] {
  const at: [string, number, number | undefined][] = [];
  for (const id of ids) {
    const h = holders.get(id);
    if (h === undefined) continue;
    h.silenced = true;
    at.push([id, Date.now(), h.lastBeatAt]);
  }
  return at;
}

async function replace(ids: string[], newSpecs: FleetSpecs | undefined, tokens: ReadonlyMap<string, string>): Promise<void> {
  const old: Promise<void>[] = [];
  for (const id of ids) {
    const h = holders.get(id);
    if (h === undefined) continue;
    // Closing a silenced agent: its socket may still be open; let it go without a goodbye.
    if (h.agent !== undefined) old.push(h.agent.close());
  }
  await Promise.all(old);
  for (const id of ids) {
    const h = holders.get(id);
    if (h === undefined) continue;
    if (newSpecs !== undefined) h.specs = newSpecs;
    h.token = tokens.get(id) ?? h.token;
    startAgent(h);
  }
}

function stats(): FleetStats {
  const states: Record<string, number> = {};
  for (const h of holders.values()) {
    const state = h.agent === undefined ? 'not-started' : h.silenced ? 'silenced' : h.agent.state;
    states[state] = (states[state] ?? 0) + 1;
  }
  return { agents: holders.size, states, heartbeatsSent, connects, rssBytes: sampleProcess(process.pid)?.rssBytes ?? 0 };
}

async function handle(request: FleetRequest): Promise<FleetReply> {
  switch (request.kind) {
    case 'init': {
      urls = request.urls;
      specs = request.specs;
      const sampled = new Set(request.sampled);
      for (const [id, token] of request.agents) {
        holders.set(id, { id, token, address: fleetSourceAddress(id), specs: undefined, agent: undefined, sampled: sampled.has(id), silenced: false, lastBeatAt: undefined, trace: [] });
      }
      return { kind: 'stats', stats: stats() };
    }
    case 'ramp':
      return { kind: 'ramped', startedMs: await ramp(request.perSecond, request.maxInFlight) };
    case 'close':
      return { kind: 'closed', at: await closeClean(request.ids, request.spacingMs) };
    case 'silence':
      return { kind: 'silenced', at: silence(request.ids) };
    case 'replace':
      await replace(request.ids, request.specs, new Map(request.tokens ?? []));
      return { kind: 'replaced' };
    case 'stats':
      return { kind: 'stats', stats: stats() };
    case 'placement':
      return { kind: 'placement', byUrl: placement.byUrl() };
    case 'mark':
      return { kind: 'marked', count: placement.mark(request.url) };
    case 'moves':
      return { kind: 'moves', moves: placement.moves() };
    case 'attempts':
      return { kind: 'attempts', attempts: attempts.filter((a) => a[0] >= request.sinceEpochMs) };
    case 'trace': {
      const traces: [string, AgentTrace][] = [];
      for (const id of request.ids) {
        const h = holders.get(id);
        if (h !== undefined) traces.push([id, [...h.trace]]);
      }
      const delay = { p50Ms: loopDelay.percentile(50) / 1e6, p99Ms: loopDelay.percentile(99) / 1e6, maxMs: loopDelay.max / 1e6 };
      if (request.reset === true) loopDelay.reset();
      return { kind: 'trace', traces, loopDelay: delay };
    }
    case 'profile':
      return profile(request);
  }
}

let inspector: InspectorSession | undefined;

/** Profiles this simulator in-process (the storm with --profile): where a simulated agent's CPU goes. */
async function profile(request: Extract<FleetRequest, { kind: 'profile' }>): Promise<FleetReply> {
  if (request.action === 'start') {
    inspector ??= new InspectorSession();
    inspector.connect();
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.setSamplingInterval', { interval: 500 });
    await inspector.post('Profiler.start');
    return { kind: 'profiling' };
  }
  if (inspector === undefined) throw new Error('no profile started');
  const { profile: result } = (await inspector.post('Profiler.stop')) as unknown as { profile: CpuProfile };
  inspector.disconnect();
  inspector = undefined;
  writeFileSync(request.file, JSON.stringify(result));
  return { kind: 'profiled', summary: summarise(result, request.file) };
}

process.on('message', (message: { reqId: number; request: FleetRequest }) => {
  handle(message.request).then(
    (reply) => post({ reqId: message.reqId, reply }),
    (error: unknown) => post({ reqId: message.reqId, reply: { kind: 'error', message: error instanceof Error ? error.message : String(error) } }),
  );
});

setInterval(() => {
  if (beatBuffer.length === 0) return;
  const report: BeatReport = { kind: 'beats', beats: beatBuffer };
  beatBuffer = [];
  post(report);
}, 200).unref();

// The coordinator going away (crash, Ctrl-C) ends the fleet too.
process.on('disconnect', () => process.exit(0));
post({ kind: 'ready' });
