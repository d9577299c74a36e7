import { parseMasterMessage, type Specs } from '@cluster/protocol';
import { createAgent, type Agent } from '../../../packages/agent/src/agent.js';
import { createLogger } from '../../../packages/agent/src/logger.js';
import { createFakeProbe } from '../../../packages/agent/src/probe/fake.js';
import { captureLogs, type CapturedLogs } from '../../../packages/agent/src/test-support/logs.js';
import { RawAgent, SPECS } from '../../integration/helpers/raw-agent.js';

/**
 * The legitimate agents that stay connected while the attacks run. A raw
 * control beats on a timer and timestamps every ack, so a test can say "acks
 * kept coming during this window, never more than X ms apart"; the real
 * agent (packages/agent) shows that a production session never noticed.
 */
export class AckMonitor {
  readonly ackTimes: number[] = [];
  closedAt: number | undefined;
  closeCode: number | undefined;

  private constructor(readonly agent: RawAgent) {
    agent.ws.on('message', (data: Buffer, isBinary: boolean) => {
      const parsed = parseMasterMessage(data, isBinary);
      if (parsed.ok && parsed.message.type === 'ack') this.ackTimes.push(performance.now());
    });
    void agent.closed.then((c) => {
      this.closedAt = performance.now();
      this.closeCode = c.code;
    });
  }

  /** Connects, says hello, and beats every `intervalMs` from then on. */
  static async start(url: string, workerId: string, token: string, intervalMs: number): Promise<AckMonitor> {
    const agent = await RawAgent.admitted(url, { workerId, token });
    const monitor = new AckMonitor(agent);
    agent.startBeating(intervalMs);
    return monitor;
  }

  get open(): boolean {
    return this.closedAt === undefined;
  }

  count(fromMs: number, toMs = performance.now()): number {
    return this.ackTimes.filter((t) => t >= fromMs && t <= toMs).length;
  }

  /** Longest stretch without an ack inside [from, to], edges included. */
  maxGapMs(fromMs: number, toMs = performance.now()): number {
    let last = fromMs;
    let gap = 0;
    for (const t of this.ackTimes) {
      if (t < fromMs) continue;
      if (t > toMs) break;
      gap = Math.max(gap, t - last);
      last = t;
    }
    return Math.max(gap, toMs - last);
  }

  /** Waits for the next ack after now (bounded). */
  async nextAck(timeoutMs = 3_000): Promise<void> {
    const from = performance.now();
    const deadline = from + timeoutMs;
    while (this.count(from) === 0) {
      if (performance.now() > deadline) throw new Error(`no ack from the master within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(): Promise<void> {
    await this.agent.close();
  }
}

export interface RealControl {
  agent: Agent;
  logs: CapturedLogs;
  /** 'admitted' events so far (1 means it never had to reconnect). */
  admissions(): number;
  disconnections(): number;
}

/** The production agent (createAgent), fake probe, logs captured for the secret scan. */
export async function startRealControl(
  url: string,
  workerId: string,
  token: string,
  extra: { ca?: Buffer; specs?: Specs } = {},
): Promise<RealControl> {
  const logs = captureLogs();
  const agent = createAgent({
    masterUrl: `${url}/agent`,
    workerId,
    token,
    agentVersion: 'hostile-control',
    probe: createFakeProbe(extra.specs ?? SPECS),
    logger: createLogger({ level: 'debug', destination: logs.destination }),
    reconnectBaseMs: 50,
    reconnectCapMs: 200,
    refusedRetryMs: 500,
    stableConnectionMs: 1_000,
    welcomeTimeoutMs: 3_000,
    ...(extra.ca === undefined ? {} : { ca: extra.ca }),
  });
  await agent.start();
  return {
    agent,
    logs,
    admissions: () => logs.events('admitted').length,
    disconnections: () => logs.events('disconnected').length,
  };
}
