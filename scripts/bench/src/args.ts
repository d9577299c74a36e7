import { parseArgs } from 'node:util';

export const SCENARIOS = ['steady', 'detection', 'storm', 'specs', 'baseline', 'agent', 'soak'] as const;
/** What runs without --scenarios: all but the soak (an hour; scenario-soak.ts). */
const DEFAULT_SCENARIOS: readonly string[] = SCENARIOS.filter((s) => s !== 'soak');
export type Scenario = (typeof SCENARIOS)[number];

export interface BenchArgs {
  agents: number;
  durationS: number;
  scenarios: Set<Scenario>;
  /** Where the JSON goes; default bench-results/<timestamp>.json. */
  out: string | undefined;
  /** Agents started per second while ramping up (all simulators together). */
  rampPerSecond: number;
  /** Agents started and not welcomed yet, at most, while ramping up (all simulators together). */
  rampInFlight: number;
  /** Agents per simulator process. */
  perProcess: number;
  /** Agents whose heartbeats are followed to the database. */
  lagSample: number;
  /** Agents closed cleanly / silenced in the detection scenario. */
  detectionAgents: number;
  /** Profile the master over its inspector (adds overhead: not for the figures). */
  profile: boolean;
  /** 'known': documents hold the fleet's specs already (an earlier connection); 'initial': the contract's initial values. */
  seed: 'known' | 'initial';
  /**
   * Several masters (--masters N): N master processes on the one database and the fleet given
   * all their URLs; this run replaces the single-master scenarios. Undefined: those scenarios.
   */
  masters: number | undefined;
  /** The soak's minute, seconds: its churn comes once per soak minute, its series every 5 (less: time compressed further). */
  soakMinuteS: number;
}

export const USAGE = `Usage: pnpm bench [-- options]

  --agents N          simulated agents (default 10000)
  --duration-s S      length of each measured window: steady state, bare baseline, agent footprint (default 60)
  --scenarios LIST    comma-separated: ${SCENARIOS.join(',')} (default all but soak)
  --out PATH          JSON output (default bench-results/<timestamp>.json)
  --ramp-per-s N      agents connected per second while ramping up (default 500)
  --ramp-in-flight N  agents started and not yet welcomed, at most, while ramping up (default 1000): the ramp
                      goes as fast as the master admits, up to --ramp-per-s, instead of filling its backlog
  --per-process N     agents per fleet simulator process (default 5000)
  --lag-sample N      agents whose heartbeats are followed to the database (default 40)
  --detection-agents N  agents closed cleanly, and agents silenced, in the detection scenario (default 100)
  --seed known|initial  registry documents as after an earlier connection (default: known), or the
                      contract's initial values, so that the first hello of every agent writes its specs
  --masters N         N masters on the one dev database, every agent given all their URLs: agents per
                      master, heartbeats/s, db writes/s, then (N > 1) SIGKILL of the busiest master:
                      failover time, false inactive flags. Replaces the scenarios above; --masters 1 is
                      the same run with one master, for comparison
  --soak-minute-s S   the soak's minute (default 60): churn once per soak minute, a sample every 5; with
                      --scenarios soak --duration-s 600 --soak-minute-s 10 --agents 2000, a quick try
  --profile           CPU-profile the master (steady window and reconnect storm) and, in the storm, the fleet
                      simulators (kill to all back); figures are then not comparable
  -h, --help`;

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive whole number, got ${JSON.stringify(text)}`);
  return n;
}

export function parseBenchArgs(argv: string[]): BenchArgs | 'help' {
  const { values } = parseArgs({
    args: argv.filter((a) => a !== '--'),
    options: {
      agents: { type: 'string' },
      'duration-s': { type: 'string' },
      scenarios: { type: 'string' },
      out: { type: 'string' },
      'ramp-per-s': { type: 'string' },
      'per-process': { type: 'string' },
      'ramp-in-flight': { type: 'string' },
      'lag-sample': { type: 'string' },
      'detection-agents': { type: 'string' },
      profile: { type: 'boolean' },
      seed: { type: 'string' },
      masters: { type: 'string' },
      'soak-minute-s': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) return 'help';
  const scenarios = new Set<Scenario>();
  for (const s of (values.scenarios ?? DEFAULT_SCENARIOS.join(',')).split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`unknown scenario ${JSON.stringify(s)}; known: ${SCENARIOS.join(', ')}`);
    scenarios.add(s as Scenario);
  }
  const agents = positive('agents', values.agents, 10_000);
  const masters = values.masters === undefined ? undefined : positive('masters', values.masters, 1);
  if (masters !== undefined && values.scenarios !== undefined) throw new Error('--masters runs its own scenario: leave out --scenarios');
  if (masters !== undefined) scenarios.clear();
  const detectionAgents = positive('detection-agents', values['detection-agents'], 100);
  if (scenarios.has('detection') && 2 * detectionAgents > agents) {
    throw new Error(`--detection-agents ${detectionAgents} needs at least ${2 * detectionAgents} agents`);
  }
  const seed = values.seed ?? 'known';
  if (seed !== 'known' && seed !== 'initial') throw new Error(`--seed must be known or initial, got ${JSON.stringify(seed)}`);
  return {
    agents,
    durationS: positive('duration-s', values['duration-s'], 60),
    scenarios,
    out: values.out,
    rampPerSecond: positive('ramp-per-s', values['ramp-per-s'], 500),
    rampInFlight: positive('ramp-in-flight', values['ramp-in-flight'], 1_000),
    perProcess: positive('per-process', values['per-process'], 5_000),
    lagSample: positive('lag-sample', values['lag-sample'], 40),
    detectionAgents,
    profile: values.profile === true,
    seed,
    masters,
    soakMinuteS: positive('soak-minute-s', values['soak-minute-s'], 60),
  };
}
