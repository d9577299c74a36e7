import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { credentials, type BenchContext } from './context.js';
import { Fleet } from './fleet-client.js';
import { cpuBetween, sampleProcess } from './procfs.js';
import { SUB_WINDOW_MS } from './scenario-steady.js';
import { median, progress, sleep, waitUntil } from './util.js';

const BARE_MAIN = fileURLToPath(new URL('./bare-server.js', import.meta.url));

export interface BareResult {
  agents: number;
  windowS: number;
  heartbeats: number;
  heartbeatsPerSecond: number;
  cpuMs: number;
  cpuCoreShare: number;
  cpuUsPerHeartbeat: number;
  cpuUsPerHeartbeatMedian: number | undefined;
  cpuUsPerHeartbeatWindows: number[];
  rssIdleBytes: number;
  rssBytes: number;
  bytesPerAgent: number;
}

/**
 * The bare WebSocket baseline: the same fleet, the same N, the same
 * interval, against bare-server.ts; CPU per heartbeat measured the same way
 * as the master's (utime + stime over the window ÷ heartbeats received).
 */
export async function runBare(ctx: BenchContext): Promise<BareResult> {
  const { args } = ctx;
  const child = fork(BARE_MAIN, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await new Promise((resolve) => (child.exitCode === null && child.signalCode === null ? child.once('exit', resolve) : resolve(undefined)));
  };
  ctx.cleanups.unshift(kill);
  const port = await new Promise<number>((resolve) =>
    child.on('message', (m: { kind?: string; port?: number }) => {
      if (m.kind === 'listening' && m.port !== undefined) resolve(m.port);
    }),
  );
  let reqId = 0;
  const stats = (): Promise<{ heartbeats: number; connected: number }> =>
    new Promise((resolve) => {
      const id = ++reqId;
      const listener = (m: { reqId?: number; heartbeats: number; connected: number }): void => {
        if (m.reqId !== id) return;
        child.off('message', listener);
        resolve(m);
      };
      child.on('message', listener);
      child.send({ reqId: id });
    });
  const pid = child.pid ?? -1;
  await sleep(1_000);
  const idle = sampleProcess(pid);
  const fleet = await Fleet.start({
    url: `ws://127.0.0.1:${port}/agent`,
    specs: ctx.specs,
    credentials: credentials(ctx, ctx.fleetIds),
    sampled: [],
    perProcess: args.perProcess,
    onBeats: () => undefined,
  });
  ctx.cleanups.unshift(() => fleet.kill());
  progress(`bare baseline: ramping ${args.agents} agents at ${args.rampPerSecond}/s`);
  const ramp = fleet.ramp(args.rampPerSecond, args.rampInFlight);
  await waitUntil(
    'all agents connected to the bare server',
    async () => ((await stats()).connected >= args.agents ? true : undefined),
    (args.agents / args.rampPerSecond) * 3_000 + 60_000,
    500,
  );
  await ramp;
  // One heartbeat interval and a bit, so every agent is beating at its own phase.
  await sleep(ctx.heartbeatIntervalMs + 5_000);
  progress(`bare baseline: measuring for ${args.durationS} s`);
  const s0 = sampleProcess(pid);
  const b0 = await stats();
  const perWindowUs: number[] = [];
  let prev = { proc: s0, beats: b0.heartbeats };
  const end = performance.now() + args.durationS * 1_000;
  while (performance.now() < end) {
    await sleep(Math.min(SUB_WINDOW_MS, end - performance.now()));
    const proc = sampleProcess(pid);
    const { heartbeats } = await stats();
    if (proc !== undefined && prev.proc !== undefined && heartbeats > prev.beats) {
      perWindowUs.push((cpuBetween(prev.proc, proc).cpuMs * 1_000) / (heartbeats - prev.beats));
    }
    prev = { proc, beats: heartbeats };
  }
  const s1 = sampleProcess(pid);
  const b1 = await stats();
  await fleet.kill();
  await kill();
  if (s0 === undefined || s1 === undefined || idle === undefined) throw new Error('bare server vanished');
  const cpu = cpuBetween(s0, s1);
  const heartbeats = b1.heartbeats - b0.heartbeats;
  const rssBytes = s1.rssBytes;
  return {
    agents: b1.connected,
    windowS: cpu.wallMs / 1000,
    heartbeats,
    heartbeatsPerSecond: heartbeats / (cpu.wallMs / 1000),
    cpuMs: cpu.cpuMs,
    cpuCoreShare: cpu.coreShare,
    cpuUsPerHeartbeat: heartbeats > 0 ? (cpu.cpuMs * 1000) / heartbeats : Number.NaN,
    cpuUsPerHeartbeatMedian: median(perWindowUs),
    cpuUsPerHeartbeatWindows: perWindowUs,
    rssIdleBytes: idle.rssBytes,
    rssBytes,
    bytesPerAgent: (rssBytes - idle.rssBytes) / Math.max(1, b1.connected),
  };
}
