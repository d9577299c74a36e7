import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ProfileSummary } from './profile.js';
import type { AgentTrace, AttemptRecord, FleetEnvelope, FleetReply, FleetRequest, FleetSpecs, FleetStats, LoopDelay } from './fleet-protocol.js';

const FLEET_MAIN = fileURLToPath(new URL('./fleet.js', import.meta.url));

/** The coordinator's handle on one fleet simulator process. */
export class FleetProcess {
  readonly child: ChildProcess;
  readonly ids: string[];
  readonly #waiting = new Map<number, (reply: FleetReply) => void>();
  #nextId = 1;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;

  constructor(
    ids: string[],
    private readonly onBeats: (beats: [string, number][]) => void,
  ) {
    this.ids = ids;
    // A smaller young generation would save memory but cost CPU; Node's defaults, like the real agent.
    this.child = fork(FLEET_MAIN, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => reject(new Error(`fleet process exited early (code ${code})`)));
      this.child.on('message', (message: FleetEnvelope) => {
        if ('reqId' in message) {
          this.#waiting.get(message.reqId)?.(message.reply);
          this.#waiting.delete(message.reqId);
        } else if (message.kind === 'beats') {
          this.onBeats(message.beats);
        } else {
          resolve();
        }
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  request(request: FleetRequest): Promise<FleetReply> {
    const reqId = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(reqId, (reply) => (reply.kind === 'error' ? reject(new Error(`fleet: ${reply.message}`)) : resolve(reply)));
      this.child.send({ reqId, request });
    });
  }

  async stats(): Promise<FleetStats> {
    const reply = await this.request({ kind: 'stats' });
    if (reply.kind !== 'stats') throw new Error(`fleet: unexpected reply ${reply.kind}`);
    return reply.stats;
  }

  kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    return this.exited;
  }
}

/** N agents spread over `processes` simulators; requests go to the process that holds each id. */
export class Fleet {
  readonly processes: FleetProcess[];
  readonly #owner = new Map<string, FleetProcess>();

  private constructor(processes: FleetProcess[]) {
    this.processes = processes;
    for (const p of processes) for (const id of p.ids) this.#owner.set(id, p);
  }

  static async start(options: {
    /** One master's agent endpoint, or several (each agent gets them all). */
    url: string | string[];
    specs: FleetSpecs;
    credentials: [string, string][];
    sampled: string[];
    perProcess: number;
    onBeats: (beats: [string, number][]) => void;
  }): Promise<Fleet> {
    const count = Math.max(1, Math.ceil(options.credentials.length / options.perProcess));
    const groups: [string, string][][] = Array.from({ length: count }, () => []);
    // Round-robin, so each process holds a share of every part of the id range.
    options.credentials.forEach((c, i) => groups[i % count]?.push(c));
    const processes = groups.map((g) => new FleetProcess(g.map(([id]) => id), options.onBeats));
    const fleet = new Fleet(processes);
    await Promise.all(processes.map((p) => p.ready));
    await Promise.all(
      processes.map((p, i) => {
        const mine = new Set(p.ids);
        return p.request({
          kind: 'init',
          urls: typeof options.url === 'string' ? [options.url] : options.url,
          specs: options.specs,
          agents: groups[i] ?? [],
          sampled: options.sampled.filter((id) => mine.has(id)),
        });
      }),
    );
    return fleet;
  }

  get pids(): number[] {
    return this.processes.map((p) => p.pid);
  }

  /** `maxInFlight`: agents started and not welcomed yet, all simulators together (finite: it crosses IPC as JSON). */
  async ramp(perSecond: number, maxInFlight: number): Promise<void> {
    const share = perSecond / this.processes.length;
    const inFlight = Math.max(1, Math.floor(maxInFlight / this.processes.length));
    await Promise.all(this.processes.map((p) => p.request({ kind: 'ramp', perSecond: share, maxInFlight: inFlight })));
  }

  #byOwner(ids: string[]): Map<FleetProcess, string[]> {
    const out = new Map<FleetProcess, string[]>();
    for (const id of ids) {
      const p = this.#owner.get(id);
      if (p === undefined) continue;
      const list = out.get(p) ?? [];
      list.push(id);
      out.set(p, list);
    }
    return out;
  }

  /** Clean closes spread over `spreadMs`; returns when each close() was called (epoch ms). */
  async closeClean(ids: string[], spreadMs: number): Promise<Map<string, number>> {
    const at = new Map<string, number>();
    const parts = [...this.#byOwner(ids)];
    const replies = await Promise.all(
      parts.map(([p, list]) => p.request({ kind: 'close', ids: list, spacingMs: list.length > 1 ? spreadMs / list.length : 0 })),
    );
    for (const r of replies) if (r.kind === 'closed') for (const [id, t] of r.at) at.set(id, t);
    return at;
  }

  /** Silences agents; returns [silenced at, last heartbeat sent at] by id (epoch ms). */
  async silence(ids: string[]): Promise<Map<string, [number, number | undefined]>> {
    const at = new Map<string, [number, number | undefined]>();
    const replies = await Promise.all([...this.#byOwner(ids)].map(([p, list]) => p.request({ kind: 'silence', ids: list })));
    for (const r of replies) if (r.kind === 'silenced') for (const [id, t, last] of r.at) at.set(id, [t, last]);
    return at;
  }

  /** `tokens`: new tokens by worker id (a rotation, a registration again). */
  async replace(ids: string[], specs?: FleetSpecs, tokens?: ReadonlyMap<string, string>): Promise<void> {
    await Promise.all(
      [...this.#byOwner(ids)].map(([p, list]) =>
        p.request({
          kind: 'replace',
          ids: list,
          ...(specs === undefined ? {} : { specs }),
          ...(tokens === undefined ? {} : { tokens: list.flatMap((id): [string, string][] => (tokens.has(id) ? [[id, tokens.get(id) ?? '']] : [])) }),
        }),
      ),
    );
  }

  async stats(): Promise<FleetStats> {
    const all = await Promise.all(this.processes.map((p) => p.stats()));
    const states: Record<string, number> = {};
    for (const s of all) for (const [k, v] of Object.entries(s.states)) states[k] = (states[k] ?? 0) + v;
    return {
      agents: all.reduce((n, s) => n + s.agents, 0),
      states,
      heartbeatsSent: all.reduce((n, s) => n + s.heartbeatsSent, 0),
      connects: all.reduce((n, s) => n + s.connects, 0),
      rssBytes: all.reduce((n, s) => n + s.rssBytes, 0),
    };
  }

  /** Agents welcomed now, by master URL (all simulators together). */
  async placement(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const r of await Promise.all(this.processes.map((p) => p.request({ kind: 'placement' })))) {
      if (r.kind === 'placement') for (const [url, n] of Object.entries(r.byUrl)) out[url] = (out[url] ?? 0) + n;
    }
    return out;
  }

  /** Marks the agents welcomed by `url` now (before its master is killed); returns how many. */
  async mark(url: string): Promise<number> {
    const replies = await Promise.all(this.processes.map((p) => p.request({ kind: 'mark', url })));
    return replies.reduce((n, r) => n + (r.kind === 'marked' ? r.count : 0), 0);
  }

  /** For each marked agent, when (epoch ms) another master welcomed it, or null. */
  async moves(): Promise<Map<string, number | null>> {
    const out = new Map<string, number | null>();
    for (const r of await Promise.all(this.processes.map((p) => p.request({ kind: 'moves' })))) {
      if (r.kind === 'moves') for (const [id, at] of r.moves) out.set(id, at);
    }
    return out;
  }

  /** Every simulator's connection attempts started since `sinceEpochMs`. */
  async attempts(sinceEpochMs: number): Promise<AttemptRecord[]> {
    const out: AttemptRecord[] = [];
    for (const r of await Promise.all(this.processes.map((p) => p.request({ kind: 'attempts', sinceEpochMs })))) {
      if (r.kind === 'attempts') out.push(...r.attempts);
    }
    return out;
  }

  /**
   * The recent events of these agents (whichever process holds them), and each process's event-loop
   * delay since the last reset (`reset`: start a new window now).
   */
  async trace(ids: string[], reset = false): Promise<{ traces: Map<string, AgentTrace>; loopDelay: LoopDelay[] }> {
    const traces = new Map<string, AgentTrace>();
    const loopDelay: LoopDelay[] = [];
    for (const r of await Promise.all(this.processes.map((p) => p.request({ kind: 'trace', ids, reset })))) {
      if (r.kind !== 'trace') continue;
      for (const [id, t] of r.traces) traces.set(id, t);
      loopDelay.push(r.loopDelay);
    }
    return { traces, loopDelay };
  }

  /** Starts a CPU profile in every simulator. */
  async startProfile(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.request({ kind: 'profile', action: 'start' })));
  }

  /** Stops them; each writes `${prefix}-<n>.cpuprofile`. */
  async stopProfile(prefix: string): Promise<ProfileSummary[]> {
    const replies = await Promise.all(this.processes.map((p, i) => p.request({ kind: 'profile', action: 'stop', file: `${prefix}-${i + 1}.cpuprofile` })));
    return replies.flatMap((r) => (r.kind === 'profiled' ? [r.summary] : []));
  }

  async kill(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.kill()));
  }
}
