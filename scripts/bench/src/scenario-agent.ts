import type { BenchContext } from './context.js';
import { cpuBetween, ProcWatcher, type ProcSample } from './procfs.js';
import { installedAgentNodeFlags, jsonLine, startRealAgent } from './processes.js';
import { median, sleep } from './util.js';

export interface AgentRun {
  workerId: string;
  nodeFlags: string[];
  durationS: number;
  admitted: boolean;
  /** Probe time the agent logged for its first measurement (event "probed", duration_ms). */
  probeMs: number | undefined;
  rssMedianBytes: number | undefined;
  rssMaxBytes: number;
  /** VmHWM at the end: the peak, start-up included. */
  hwmBytes: number;
  /** Share of one core over the whole run, start-up and first probe included. */
  cpuWholeRun: number;
  /** Share of one core from `steadyFromS` after start to the end. */
  cpuSteady: number | undefined;
  steadyFromS: number;
  cpuMs: number;
}

export interface AgentResult {
  /** With the V8 flags of the released executable (what a worker runs under systemd). */
  installed: AgentRun;
  /** Plain `node dist/main.js run`, for comparison. */
  plain: AgentRun;
}

const STEADY_FROM_S = 10;

async function measure(ctx: BenchContext, masterPort: number, workerId: string, nodeFlags: string[], label: string): Promise<AgentRun> {
  const durationS = ctx.args.durationS;
  const agent = startRealAgent({
    masterUrl: `ws://127.0.0.1:${masterPort}/agent`,
    workerId,
    token: ctx.tokenOf.get(workerId) ?? '',
    logFile: `${ctx.runDir}/agent-${label}.log`,
    nodeFlags,
  });
  ctx.cleanups.unshift(() => agent.kill());
  const watcher = new ProcWatcher(agent.pid, 1_000);
  await sleep(durationS * 1_000);
  const last = watcher.stop();
  await agent.stop();
  const samples = watcher.samples;
  const first = samples[0];
  if (first === undefined || last === undefined) throw new Error('the real agent vanished');
  const steadyStart: ProcSample | undefined = samples.find((s) => s.atMs - first.atMs >= STEADY_FROM_S * 1_000);
  let probeMs: number | undefined;
  let admitted = false;
  for (const line of agent.tail.lines()) {
    const json = jsonLine(line);
    if (json?.event === 'probed' && probeMs === undefined) probeMs = Number(json.duration_ms);
    if (json?.event === 'admitted') admitted = true;
  }
  // CPU from process start: the first sample is taken right after spawn, when it has used ~nothing.
  const whole = cpuBetween({ ...first, cpuMs: 0 }, last);
  return {
    workerId,
    nodeFlags,
    durationS,
    admitted,
    probeMs,
    rssMedianBytes: median(samples.map((s) => s.rssBytes)),
    rssMaxBytes: Math.max(...samples.map((s) => s.rssBytes)),
    hwmBytes: last.hwmBytes,
    cpuWholeRun: whole.coreShare,
    cpuSteady: steadyStart === undefined || durationS <= STEADY_FROM_S ? undefined : cpuBetween(steadyStart, last).coreShare,
    steadyFromS: STEADY_FROM_S,
    cpuMs: last.cpuMs,
  };
}

/**
 * Real `cluster-agent run` processes (real probe, log level info) against
 * the running master for --duration-s, measured from /proc once a second:
 * one as installed (the released executable's V8 flags), one plain.
 */
export async function runAgentFootprint(ctx: BenchContext, masterPort: number): Promise<AgentResult> {
  const [installed, plain] = await Promise.all([
    measure(ctx, masterPort, ctx.realAgentIds[0], installedAgentNodeFlags(), 'installed'),
    measure(ctx, masterPort, ctx.realAgentIds[1], [], 'plain'),
  ]);
  return { installed, plain };
}
