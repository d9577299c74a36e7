import { writeFileSync } from 'node:fs';
import WebSocket from 'ws';

/**
 * CPU profiles of the master taken over its inspector (the master is started
 * with --inspect=127.0.0.1:0 when the benchmark runs with --profile), so that
 * a window of a live, SIGKILLed-later process can be profiled. The raw
 * .cpuprofile is written for Chrome DevTools; a summary of self time by
 * function and by origin goes into the report.
 */
interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Self time by function, descending. */
  functions: { name: string; where: string; selfMs: number; share: number }[];
  /** Self time by origin (package, node internals, GC, idle), descending. */
  origins: { origin: string; selfMs: number; share: number }[];
}

export class InspectorSession {
  readonly #ws: WebSocket;
  #nextId = 1;
  readonly #waiting = new Map<number, (result: unknown) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as { id?: number; result?: unknown };
      if (message.id !== undefined) {
        this.#waiting.get(message.id)?.(message.result);
        this.#waiting.delete(message.id);
      }
    });
  }

  static async connect(url: string): Promise<InspectorSession> {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1024 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new InspectorSession(ws);
  }

  call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  async startProfile(): Promise<void> {
    await this.call('Profiler.enable');
    await this.call('Profiler.setSamplingInterval', { interval: 500 });
    await this.call('Profiler.start');
  }

  async stopProfile(file: string): Promise<ProfileSummary> {
    const result = (await this.call('Profiler.stop')) as { profile: CpuProfile };
    writeFileSync(file, JSON.stringify(result.profile));
    return summarise(result.profile, file);
  }

  close(): void {
    this.#ws.terminate();
  }
}

function originOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1] !== undefined) return pkg[1];
  const own = /packages\/([^/]+)\/dist\//.exec(url);
  if (own?.[1] !== undefined) return `@cluster/${own[1]}`;
  return url;
}

export function summarise(profile: CpuProfile, file: string): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = profile.endTime - profile.startTime;
  const functions = new Map<string, { name: string; where: string; us: number }>();
  const origins = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) continue;
    const short = frame.url.replace(/^file:\/\/.*?(node_modules\/\.pnpm\/[^/]+\/node_modules\/|packages\/)/, '');
    const where = frame.url === '' ? '' : `${short}:${frame.lineNumber + 1}`;
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
    const key = `${name}@${where}`;
    const f = functions.get(key) ?? { name, where, us: 0 };
    f.us += us;
    functions.set(key, f);
    const origin = originOf(frame);
    origins.set(origin, (origins.get(origin) ?? 0) + us);
  }
  const share = (us: number): number => (total > 0 ? Math.round((us / total) * 1000) / 10 : 0);
  return {
    file,
    totalMs: Math.round(total / 1000),
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, 25)
      .map((f) => ({ name: f.name, where: f.where, selfMs: Math.round(f.us / 1000), share: share(f.us) })),
    origins: [...origins]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([origin, us]) => ({ origin, selfMs: Math.round(us / 1000), share: share(us) })),
  };
}
