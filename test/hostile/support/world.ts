import type { Specs } from '@cluster/protocol';
import { expect } from 'vitest';
import type { ServerOptions } from '../../../packages/master/src/server/options.js';
import { openHarness, waitFor, type Harness, type LogLine, type RunningMaster } from '../../integration/helpers/harness.js';
import { SPECS } from '../../integration/helpers/raw-agent.js';
import { collector } from './collector.js';
import { AckMonitor, startRealControl, type RealControl } from './control.js';
import { diffSnapshots, snapshot, type Snapshot } from './snapshot.js';

/** Heartbeat cadence of the in-process masters (the harness's FAST profile). */
export const BEAT_MS = 200;
export const HEARTBEAT_TIMEOUT_MS = 1_000;
/** Short hello and request-head timeouts, so the resource cases take seconds. */
export const HELLO_TIMEOUT_MS = 1_000;
export const REQUEST_TIMEOUT_MS = 2_000;

/**
 * One in-process master (createMaster via the integration harness, port 0,
 * its own database, logs captured) with two legitimate agents connected the
 * whole time: a raw one that timestamps its acks and the real agent.
 */
export interface World {
  h: Harness;
  m: RunningMaster;
  port: number;
  /** ws:// base URL. */
  url: string;
  /** Workers whose own sessions legitimately move their liveness fields. */
  live: Set<string>;
  /** Live workers whose first hello may fall inside a diff's window: the specs it carries. */
  helloSpecs: Map<string, Specs>;
  ctl: AckMonitor;
  real: RealControl;
  /** Registers a worker, issues its token and hands it to the secret scan. */
  register(workerId: string, workerIp?: string): Promise<string>;
  snap(): Promise<Snapshot>;
  /** Compares with `before`, records any difference for the summary and returns them. */
  diff(area: string, before: Snapshot): Promise<string[]>;
  logMark(): number;
  logsSince(mark: number): LogLine[];
  /** Waits (bounded) for a master log line at or after `mark` that matches. */
  waitLog(mark: number, match: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  /** The master answers /healthz, is ready, and the raw control got an ack just now. */
  assertServing(): Promise<void>;
  close(): Promise<void>;
}

export async function openWorld(name: string, options: Partial<Omit<ServerOptions, 'tls'>> = {}): Promise<World> {
  const h = await openHarness();
  const live = new Set<string>(['ctl-raw', 'ctl-agent']);
  const helloSpecs = new Map<string, Specs>();
  const register = async (workerId: string, workerIp = '127.0.0.1'): Promise<string> =>
    collector.token(await h.register(workerId, workerIp), `${name}/${workerId}`);
  const ctlToken = await register('ctl-raw');
  const realToken = await register('ctl-agent');
  const m = await h.startMaster({
    checkSourceAddress: true,
    helloTimeoutMs: HELLO_TIMEOUT_MS,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    ...options,
  });
  collector.source(`${name}: master log`, () => m.rawLogs.join(''));
  const url = m.url;
  const ctl = await AckMonitor.start(url, 'ctl-raw', ctlToken, BEAT_MS);
  const real = await startRealControl(url, 'ctl-agent', realToken);
  collector.source(`${name}: real control agent log`, () => real.logs.text());
  await real.logs.waitFor('admitted');
  // Their first hellos write their specs; every snapshot is taken after that.
  for (const id of ['ctl-raw', 'ctl-agent']) {
    await waitFor(`${id} specs written`, async () => (await h.worker(id))?.total_cpu === SPECS.total_cpu);
  }

  const world: World = {
    h,
    m,
    port: m.port,
    url,
    live,
    helloSpecs,
    ctl,
    real,
    register,
    snap: () => snapshot(h.db),
    async diff(area, before) {
      const diffs = diffSnapshots(before, await snapshot(h.db), live, helloSpecs);
      collector.registryDiff(area, diffs);
      return diffs;
    },
    logMark: () => m.logs.length,
    logsSince: (mark) => m.logs.slice(mark),
    waitLog: (mark, match, what, timeoutMs = 5_000) =>
      waitFor(`master log: ${what}`, () => m.logs.slice(mark).find(match), { timeoutMs }),
    async assertServing() {
      expect(m.master.notReadyReason()).toBeNull();
      const res = await fetch(`${m.http}/healthz`);
      expect(res.status).toBe(200);
      expect(ctl.open, 'the raw control agent was disconnected').toBe(true);
      await ctl.nextAck();
      expect(real.agent.state).toBe('open');
    },
    async close() {
      await real.agent.close();
      await ctl.stop();
      await h.close();
    },
  };
  return world;
}
