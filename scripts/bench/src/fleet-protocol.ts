/** Messages between the coordinator (main.ts) and a fleet simulator process (fleet.ts), over fork IPC. */

import type { Specs } from '../../../packages/protocol/dist/index.js';
import type { ProfileSummary } from './profile.js';

/** The specs a simulated agent reports: the protocol's shape. */
export type FleetSpecs = Specs;

export type FleetRequest =
  | {
      kind: 'init';
      /** The masters' agent endpoints: each agent gets the whole list (the real agent's rounds). */
      urls: string[];
      specs: FleetSpecs;
      /** [worker_id, token] of every agent this process simulates. */
      agents: [string, string][];
      /** Agents whose heartbeat send times are reported (those this process holds). */
      sampled: string[];
    }
  /** Starts every agent not started yet, `perSecond` a second, with at most `maxInFlight` started and not welcomed yet. */
  | { kind: 'ramp'; perSecond: number; maxInFlight: number }
  /** Clean close (1000), one every `spacingMs`; replies with when each close() was called. */
  | { kind: 'close'; ids: string[]; spacingMs: number }
  /** No heartbeats, no pongs, no reconnects from now on; the socket stays open. */
  | { kind: 'silence'; ids: string[] }
  /** Drops the given agents (clean close if still connected) and starts fresh ones with the same ids (and other specs, or new tokens, if given). */
  | { kind: 'replace'; ids: string[]; specs?: FleetSpecs; tokens?: [string, string][] }
  | { kind: 'stats' }
  /** Agents welcomed now, by the master URL they are on. */
  | { kind: 'placement' }
  /** Remembers the agents welcomed now by `url` (its master is about to be killed); replies with how many. */
  | { kind: 'mark'; url: string }
  /** For each marked agent: when (epoch ms) another master welcomed it after the mark, or null. */
  | { kind: 'moves' }
  /** Connection attempts started at or after `sinceEpochMs` (epoch ms), with what each got. */
  | { kind: 'attempts'; sinceEpochMs: number }
  /** The recent events of these agents (AgentTrace), and this process's event-loop delay since the last reset; `reset`: start it anew. */
  | { kind: 'trace'; ids: string[]; reset?: boolean }
  /** CPU profile of this simulator (its own inspector): 'start', or 'stop' writing the .cpuprofile to `file`. */
  | { kind: 'profile'; action: 'start' }
  | { kind: 'profile'; action: 'stop'; file: string };

/**
 * An agent's recent events, oldest first: [event, epoch ms]. Events: 'connect' (a WebSocket opened),
 * '101', 'welcome' (the first message of a connection), 'beat' (a heartbeat sent), 'refused' (an
 * HTTP answer other than 101), 'close'. Kept for the last 32 events of each agent (fleet.ts TRACE_EVENTS).
 */
export type AgentTrace = [string, number][];

/** This process's event-loop delay (ms) over a window: how late its timers (heartbeats, welcome timeouts) fired. */
export interface LoopDelay {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * One connection attempt of a simulated agent: [started, outcome, 101 received, ended] (epoch ms;
 * null: not yet). Outcome: 'welcomed', 'refused' (ECONNREFUSED), 'http-503' (and other statuses),
 * 'closed-before-welcome' (upgraded, closed with no welcome: the agent's welcome timeout or the master),
 * 'error-CODE', or 'pending'.
 */
export type AttemptRecord = [number, string, number | null, number | null];

export interface FleetStats {
  agents: number;
  /** Sessions by state (open = welcomed). */
  states: Record<string, number>;
  heartbeatsSent: number;
  /** Connections opened (TCP + upgrade attempted) since the process started. */
  connects: number;
  rssBytes: number;
}

export type FleetReply =
  | { kind: 'ramped'; startedMs: number }
  | { kind: 'closed'; at: [string, number][] }
  | { kind: 'silenced'; at: [string, number, number | undefined][] }
  | { kind: 'replaced' }
  | { kind: 'stats'; stats: FleetStats }
  | { kind: 'placement'; byUrl: Record<string, number> }
  | { kind: 'marked'; count: number }
  | { kind: 'moves'; moves: [string, number | null][] }
  | { kind: 'attempts'; attempts: AttemptRecord[] }
  | { kind: 'trace'; traces: [string, AgentTrace][]; loopDelay: LoopDelay }
  | { kind: 'profiling' }
  | { kind: 'profiled'; summary: ProfileSummary }
  | { kind: 'error'; message: string };

/** Unsolicited: send times (epoch ms) of sampled heartbeats, batched. */
export interface BeatReport {
  kind: 'beats';
  beats: [string, number][];
}

export type FleetEnvelope = { reqId: number; reply: FleetReply } | BeatReport | { kind: 'ready' };
