import { DEFAULTS, sameSpecs, type Hardware, type Specs } from '@cluster/protocol/agent-side';
import type { Logger } from 'pino';
import { toHardware, type Probe, type ProbeReport } from './probe/index.js';
import { createSession, type Session, type SessionOptions, type SessionState } from './session/session.js';
import { realTimers } from './timers.js';
import type { Enroller } from './enrollment/enroll.js';

export interface AgentOptions extends Omit<SessionOptions, 'url' | 'specs' | 'hardware' | 'logger'> {
  /** `ws://` or `wss://` URL of the master's agent endpoint (path included), or several masters' URLs. */
  masterUrl: string | readonly string[];
  probe: Probe;
  logger: Logger;
  /** How often the machine is measured again; changed specs go to the master. */
  reprobeIntervalMs?: number;
  /** Set when the agent has no credential yet: it enrolls before its session starts (the session's token source reads the stored credential). */
  enroll?: Enroller | undefined;
}

export interface Agent {
  /** Measures the machine, then connects; resolves once the first connection is under way. */
  start(): Promise<void>;
  /** Stops re-probing and closes the session cleanly. Idempotent: returns the same promise. */
  close(): Promise<void>;
  readonly state: SessionState;
  /** The specs last measured (undefined before the first probe). */
  readonly specs: Specs | undefined;
  [Symbol.asyncDispose](): Promise<void>;
}

export function createAgent(options: AgentOptions): Agent {
  const timers = options.timers ?? realTimers;
  const reprobeIntervalMs = options.reprobeIntervalMs ?? DEFAULTS.reprobeIntervalMs;
  const log = options.logger.child({ worker_id: options.workerId });
  let specs: Specs | undefined;
  /** The inventory last measured; undefined when the probe gives none (a fake probe). */
  let hardware: Hardware | undefined;
  let reprobeTimer: unknown;
  let starting: Promise<void> | undefined;
  let closing: Promise<void> | undefined;

  const session: Session = createSession({
    ...options,
    url: options.masterUrl,
    logger: log,
    specs: () => {
      if (specs === undefined) throw new Error('the session started before the first probe');
      return specs;
    },
    hardware: () => hardware,
  });

  const inventoryOf = (report: ProbeReport): Hardware | undefined =>
    report.host === undefined ? undefined : toHardware(report.gpu.devices, report.host, options.agentVersion);
  /** toHardware builds every inventory with the same key order, so equal ones serialise alike. */
  const sameHardware = (a: Hardware | undefined, b: Hardware | undefined) => JSON.stringify(a) === JSON.stringify(b);

  function logReport(report: ProbeReport, level: 'info' | 'debug'): void {
    log[level](
      {
        event: 'probed',
        specs: report.specs,
        cpu_model: report.cpu.model,
        memory_bytes: report.memory.bytes,
        disks: report.storage.disks.map((d) => `${d.name} ${d.size_gb} GB`),
        gpus: report.gpu.devices.map((g) => ({ model: g.model, memory_mib: g.memory_mib, bus_id: g.bus_id })),
        gpu_method: report.gpu.method,
        duration_ms: report.duration_ms,
      },
      'measured this machine',
    );
    for (const warning of report.warnings) log.warn({ event: 'probe-warning', warning }, warning);
  }

  function scheduleReprobe(): void {
    if (closing) return;
    reprobeTimer = timers.setTimeout(() => {
      reprobeTimer = undefined;
      void reprobe();
    }, reprobeIntervalMs);
  }

  async function reprobe(): Promise<void> {
    let report: ProbeReport;
    try {
      report = await options.probe();
    } catch (err) {
      log.error({ event: 'probe-failed', error: (err as Error).message }, 'measuring this machine failed; keeping the last specs');
      scheduleReprobe();
      return;
    }
    if (closing) return;
    logReport(report, 'debug');
    const measured = inventoryOf(report);
    const specsChanged = specs !== undefined && !sameSpecs(specs, report.specs);
    const hardwareChanged = !sameHardware(hardware, measured);
    if (specsChanged) log.info({ event: 'specs-changed', from: specs, to: report.specs }, 'specs changed');
    if (hardwareChanged) log.info({ event: 'hardware-changed' }, 'hardware inventory changed');
    if (specs !== undefined && (specsChanged || hardwareChanged)) {
      specs = report.specs;
      hardware = measured;
      if (!session.sendSpecs(specs, hardware)) log.info({ event: 'specs-pending' }, 'not connected; the next hello carries the new specs');
    }
    scheduleReprobe();
  }

  async function start(): Promise<void> {
    const report = await options.probe();
    if (closing) return;
    specs = report.specs;
    hardware = inventoryOf(report);
    logReport(report, 'info');
    if (options.enroll !== undefined) {
      const enrolled = await options.enroll.run();
      if (!enrolled || closing) return;
    }
    session.start();
    scheduleReprobe();
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      options.enroll?.close();
      if (reprobeTimer !== undefined) timers.clearTimeout(reprobeTimer);
      reprobeTimer = undefined;
      await session.close();
    })();
    return closing;
  }

  return {
    start() {
      starting ??= start();
      return starting;
    },
    close,
    get state() {
      return session.state;
    },
    get specs() {
      return specs;
    },
    [Symbol.asyncDispose]: close,
  };
}
