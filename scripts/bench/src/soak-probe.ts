import { readdirSync } from 'node:fs';
import { InspectorSession } from './profile.js';

/**
 * What the soak reads from the master over its inspector (started with
 * --inspect=127.0.0.1:0): heap used after a forced GC, and the event loop's
 * delay (a monitorEventLoopDelay histogram installed in the master, read and
 * reset at each sample).
 */
export class MasterProbe {
  private constructor(private readonly session: InspectorSession) {}

  static async connect(url: string): Promise<MasterProbe> {
    const probe = new MasterProbe(await InspectorSession.connect(url));
    await probe.#evaluate(LOOP_HISTOGRAM);
    return probe;
  }

  async heapUsedAfterGc(): Promise<number> {
    await this.session.call('HeapProfiler.collectGarbage');
    const usage = (await this.session.call('Runtime.getHeapUsage')) as { usedSize: number };
    return usage.usedSize;
  }

  /** p99 and max of the event loop's delay since the last call, ms. */
  async loopDelay(): Promise<{ p99Ms: number; maxMs: number }> {
    const text = await this.#evaluate(`(${LOOP_HISTOGRAM}, (() => { const h = globalThis.__benchLoopDelay; const out = JSON.stringify({ p99Ms: h.percentile(99) / 1e6, maxMs: h.max / 1e6 }); h.reset(); return out; })())`);
    return JSON.parse(text) as { p99Ms: number; maxMs: number };
  }

  async #evaluate(expression: string): Promise<string> {
    const result = (await this.session.call('Runtime.evaluate', { expression, returnByValue: true })) as { result?: { value?: unknown } };
    const value = result.result?.value;
    return typeof value === 'string' ? value : JSON.stringify(value ?? null);
  }

  close(): void {
    this.session.close();
  }
}

/** Installs the histogram once (resolution 10 ms), in the master's own context. */
const LOOP_HISTOGRAM = `(globalThis.__benchLoopDelay ??= (() => { const h = process.getBuiltinModule('node:perf_hooks').monitorEventLoopDelay({ resolution: 10 }); h.enable(); return h; })(), 'ok')`;

/** Open file descriptors of a process (/proc/PID/fd), or undefined when it is gone. */
export function openFds(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}
