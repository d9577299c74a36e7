import type { AttemptRecord } from './fleet-protocol.js';

/** One second of the storm, as the simulated agents saw it. */
export interface TimelineRow {
  /** Seconds after the SIGKILL (the row covers [second, second + 1)). */
  second: number;
  /** Attempts started in this second, by what they got in the end. */
  started: number;
  byOutcome: Record<string, number>;
  /** Of those welcomed: start → 101 and start → welcome, median and largest (ms). */
  upgradeP50Ms: number | undefined;
  welcomeP50Ms: number | undefined;
  welcomeMaxMs: number | undefined;
}

export interface StormTimeline {
  attempts: number;
  byOutcome: Record<string, number>;
  /** By second of their start. */
  rows: TimelineRow[];
  /** Welcomed attempts: start → welcome (ms). */
  welcomeMs: { p50: number; p90: number; p99: number; max: number } | undefined;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** Attempts started since the kill (epoch ms `killedAt`), by second of their start. */
export function stormTimeline(records: readonly AttemptRecord[], killedAt: number): StormTimeline {
  const rows = new Map<number, { started: number; byOutcome: Record<string, number>; upgrade: number[]; welcome: number[] }>();
  const byOutcome: Record<string, number> = {};
  const welcomeAll: number[] = [];
  for (const [start, outcome, upgradedAt, endedAt] of records) {
    if (start < killedAt) continue;
    const second = Math.floor((start - killedAt) / 1_000);
    let row = rows.get(second);
    if (row === undefined) {
      row = { started: 0, byOutcome: {}, upgrade: [], welcome: [] };
      rows.set(second, row);
    }
    row.started += 1;
    row.byOutcome[outcome] = (row.byOutcome[outcome] ?? 0) + 1;
    byOutcome[outcome] = (byOutcome[outcome] ?? 0) + 1;
    if (outcome === 'welcomed' && endedAt !== null) {
      row.welcome.push(endedAt - start);
      welcomeAll.push(endedAt - start);
      if (upgradedAt !== null) row.upgrade.push(upgradedAt - start);
    }
  }
  const sortedRows = [...rows.entries()].sort((a, b) => a[0] - b[0]);
  welcomeAll.sort((a, b) => a - b);
  return {
    attempts: sortedRows.reduce((n, [, r]) => n + r.started, 0),
    byOutcome,
    rows: sortedRows.map(([second, r]) => {
      r.upgrade.sort((a, b) => a - b);
      r.welcome.sort((a, b) => a - b);
      return {
        second,
        started: r.started,
        byOutcome: r.byOutcome,
        upgradeP50Ms: r.upgrade.length === 0 ? undefined : quantile(r.upgrade, 0.5),
        welcomeP50Ms: r.welcome.length === 0 ? undefined : quantile(r.welcome, 0.5),
        welcomeMaxMs: r.welcome.length === 0 ? undefined : r.welcome[r.welcome.length - 1],
      };
    }),
    welcomeMs: welcomeAll.length === 0 ? undefined : { p50: quantile(welcomeAll, 0.5), p90: quantile(welcomeAll, 0.9), p99: quantile(welcomeAll, 0.99), max: welcomeAll[welcomeAll.length - 1] ?? 0 },
  };
}

/** The timeline as lines for the run's progress output. */
export function formatTimeline(t: StormTimeline): string[] {
  const lines = [`storm timeline: ${t.attempts} attempts after the kill: ${JSON.stringify(t.byOutcome)}; welcome ms ${JSON.stringify(t.welcomeMs)}`];
  for (const r of t.rows) {
    const outcomes = Object.entries(r.byOutcome).map(([k, v]) => `${k} ${v}`).join(', ');
    lines.push(`  s${r.second}: ${r.started} started (${outcomes}); 101 p50 ${r.upgradeP50Ms ?? '-'} ms, welcome p50 ${r.welcomeP50Ms ?? '-'} / max ${r.welcomeMaxMs ?? '-'} ms`);
  }
  return lines;
}
