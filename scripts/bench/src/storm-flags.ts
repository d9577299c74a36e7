import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { AgentTrace, LoopDelay } from './fleet-protocol.js';

/**
 * Why the storm's `timeout` flags came: for each worker the new master flagged
 * for silence, what the master logged of it (admitted, disconnected, flagged)
 * beside what its simulated agent did (connects, welcome, heartbeats sent), on
 * the same machine's clock. Tells an agent that really was silent for the
 * timeout (a starved simulator: its heartbeat timer fired late) from a master
 * that counted wrongly (a heartbeat sent in time and flagged anyway).
 */
export interface TimeoutFlag {
  workerId: string;
  /** Epoch ms: the master's flag, and its last 'admitted' (hello read) before it. */
  flaggedAt: number;
  admittedAt: number | undefined;
  /** The agent's events from 20 s before the flag on, ms relative to the master's admission (or the flag). */
  agent: [string, number][];
  /** The agent sent a heartbeat within the timeout after the admission the master logged (master-side miscount). */
  beatInTime: boolean;
  /** The agent saw a welcome after that admission, and how long after it its next heartbeat went out. */
  welcomeSeenMs: number | undefined;
  firstBeatAfterWelcomeMs: number | undefined;
}

export interface TimeoutFlagReport {
  flags: TimeoutFlag[];
  /** Per simulator process, from the kill until the end of the storm. */
  fleetLoopDelay: LoopDelay[];
}

interface LogLine {
  time?: string;
  msg?: string;
  cause?: string;
  worker_id?: string;
  worker_ids?: string[];
}

/** The flagged ids (cause timeout) with the flag's time, and the 'admitted' times of those and all workers. */
async function readMasterLog(file: string): Promise<{ flagged: Map<string, number>; admitted: Map<string, number[]> }> {
  const flagged = new Map<string, number>();
  const admitted = new Map<string, number[]>();
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const text of lines) {
    if (!text.includes('"admitted"') && !text.includes('flagged inactive')) continue;
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      continue;
    }
    const at = line.time === undefined ? NaN : Date.parse(line.time);
    if (Number.isNaN(at)) continue;
    if (line.msg === 'admitted' && line.worker_id !== undefined) {
      const list = admitted.get(line.worker_id) ?? [];
      list.push(at);
      admitted.set(line.worker_id, list);
    } else if (line.msg === 'workers flagged inactive' && line.cause === 'timeout') {
      for (const id of line.worker_ids ?? []) if (!flagged.has(id)) flagged.set(id, at);
    }
  }
  return { flagged, admitted };
}

/** The report for the workers the master's log names as flagged for silence (its line names up to 100 per flag). */
export async function explainTimeoutFlags(
  masterLog: string,
  heartbeatTimeoutMs: number,
  trace: (ids: string[]) => Promise<{ traces: Map<string, AgentTrace>; loopDelay: LoopDelay[] }>,
): Promise<TimeoutFlagReport> {
  const { flagged, admitted } = await readMasterLog(masterLog);
  const { traces, loopDelay } = await trace([...flagged.keys()]);
  const flags: TimeoutFlag[] = [];
  for (const [workerId, flaggedAt] of flagged) {
    const admittedAt = (admitted.get(workerId) ?? []).filter((t) => t <= flaggedAt).pop();
    const origin = admittedAt ?? flaggedAt;
    const events = (traces.get(workerId) ?? []).filter(([, t]) => t >= flaggedAt - 20_000);
    const after = events.filter(([, t]) => admittedAt !== undefined && t >= admittedAt);
    const beatInTime = admittedAt !== undefined && after.some(([e, t]) => e === 'beat' && t <= admittedAt + heartbeatTimeoutMs);
    const welcome = after.find(([e]) => e === 'welcome');
    const beatAfter = welcome === undefined ? undefined : after.find(([e, t]) => e === 'beat' && t >= welcome[1]);
    flags.push({
      workerId,
      flaggedAt,
      admittedAt,
      agent: events.map(([e, t]) => [e, t - origin]),
      beatInTime,
      welcomeSeenMs: welcome === undefined || admittedAt === undefined ? undefined : welcome[1] - admittedAt,
      firstBeatAfterWelcomeMs: welcome === undefined || beatAfter === undefined ? undefined : beatAfter[1] - welcome[1],
    });
  }
  return { flags, fleetLoopDelay: loopDelay };
}

/** Lines for the run's progress output. */
export function formatTimeoutFlags(report: TimeoutFlagReport): string[] {
  const delay = report.fleetLoopDelay.map((d) => `p50 ${d.p50Ms.toFixed(0)} / p99 ${d.p99Ms.toFixed(0)} / max ${d.maxMs.toFixed(0)} ms`).join('; ');
  const lines = [`storm: fleet simulators' event-loop delay from the kill to the end: ${delay}`];
  if (report.flags.length === 0) return lines;
  const inTime = report.flags.filter((f) => f.beatInTime).length;
  lines.push(`storm: ${report.flags.length} timeout flags named in the master log; agent sent a heartbeat within the timeout of its admission: ${inTime}`);
  for (const f of report.flags.slice(0, 10)) {
    const events = f.agent.map(([e, t]) => `${e}@${(t / 1000).toFixed(1)}`).join(' ');
    lines.push(
      `  ${f.workerId}: flagged ${f.admittedAt === undefined ? '?' : ((f.flaggedAt - f.admittedAt) / 1000).toFixed(1)} s after its admission; ` +
        `welcome seen +${f.welcomeSeenMs === undefined ? '-' : (f.welcomeSeenMs / 1000).toFixed(1)} s, next beat +${f.firstBeatAfterWelcomeMs === undefined ? '-' : (f.firstBeatAfterWelcomeMs / 1000).toFixed(1)} s after it; agent (s from admission): ${events}`,
    );
  }
  return lines;
}
