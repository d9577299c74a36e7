import { check, fmt, type Row } from './report.js';
import type { SeveralMastersResult } from './scenario-several-masters.js';

const MB = 1_000_000;

/** The several-masters run's table: the fleet's totals, each master's share, the failover. */
export function severalMastersRows(r: SeveralMastersResult, intervalMs: number, timeoutMs: number): Row[] {
  const rows: Row[] = [];
  const row = (scenario: string, metric: string, value: string, target = '', verdict: Row['verdict'] = ''): void => {
    rows.push({ scenario, metric, value, target, verdict });
  };
  const tag = `${r.masters} master${r.masters === 1 ? '' : 's'}`;
  const s = r.steady;
  const rate = (r.agents * 1_000) / intervalMs;
  const p = r.ramp;
  row('setup', `ramp to ${fmt(r.agents)} agents over ${tag}: connected`, `${fmt(p.reached)} after ${fmt(r.rampS, 's')}`, fmt(r.agents), check(p.complete));
  const shares = Object.entries(p.cpuCoreShare).map(([group, share]) => `${group} ${fmt(share * 100, '%', 0)}`).join(', ');
  row('setup', 'ramp CPU (share of one core) by process group', shares);
  row('setup', 'ramp: machine busy (all cores, every user) / load avg at end', `${fmt((p.machineBusyShare ?? Number.NaN) * 100, '%', 0)} / ${fmt(p.loadavg1AtEnd)}`);
  row('steady', 'agents held in total (min of the window not taken: at its end)', fmt(s.agentsTotal), `${fmt(r.agents)}`, check(s.agentsTotal >= r.agents));
  for (const m of s.perMaster) {
    row('steady', `${m.label}: agents / heartbeats /s / db writes /s`, `${fmt(m.agents)} / ${fmt(m.heartbeatsPerSecond)} / ${fmt(m.dbWritesPerSecond, '', 2)}`);
    row('steady', `${m.label}: CPU (share of one core) / RSS median`, `${fmt(m.cpuCoreShare * 100, '%')} / ${fmt((m.rssMedianBytes ?? Number.NaN) / MB, 'MB')}`);
  }
  row('steady', 'heartbeats ingested /s (all masters; sent by the fleet)', `${fmt(s.heartbeatsPerSecond)} (${fmt(s.heartbeatsSentPerSecond)})`, `≥ ${fmt(0.95 * rate)}`, check(s.heartbeatsPerSecond >= 0.95 * rate));
  row('steady', 'db write commands /s (all masters)', fmt(s.dbWritesPerSecond, '', 2), `≤ ${2 * r.masters}`, check(s.dbWritesPerSecond <= 2 * r.masters));
  row('steady', 'db read commands /s (all masters)', fmt(s.dbReadsPerSecond, '', 2));
  row('steady', 'fleet simulators RSS', fmt(s.fleetRssBytes / MB, 'MB'));
  const f = r.failover;
  if (f !== undefined) {
    row('failover', `SIGKILL ${f.killed}: agents it held`, fmt(f.agentsOnIt));
    row('failover', 'kill → welcomed by another master p50 / p99 / max', `${fmt(f.movedMs.p50, 'ms', 0)} / ${fmt(f.movedMs.p99, 'ms', 0)} / ${fmt(f.movedMs.max, 'ms', 0)}`, `p99 < timeout (${fmt(timeoutMs, 'ms')})`, check(f.movedMs.p99 === undefined ? undefined : f.movedMs.p99 < timeoutMs));
    row('failover', 'moved after the timeout / never moved', `${f.movedAfterTimeout} / ${f.neverMoved}`, '0 / 0', check(f.movedAfterTimeout === 0 && f.neverMoved === 0));
    row('failover', 'kill → survivors hold the whole fleet', fmt((f.allBackMs ?? Number.NaN) / 1_000, 's'));
    row('failover', 'survivors: agents at the end', f.survivors.map((m) => `${m.label} ${fmt(m.agents)}`).join(', '));
    row('failover', `heartbeats /s, db writes /s (survivors, ${fmt(f.observedS, 's', 0)} from the kill)`, `${fmt(f.heartbeatsPerSecond)}, ${fmt(f.dbWritesPerSecond, '', 2)}`);
  }
  const byCause = Object.entries(r.falseFlags.byMaster)
    .filter(([, causes]) => Object.keys(causes).length > 0)
    .map(([label, causes]) => `${label} ${JSON.stringify(causes)}`)
    .join('; ');
  row('flags', 'false inactive flags (sent by any master; every agent alive)', `${r.falseFlags.total}${byCause === '' ? '' : ` (${byCause})`}`, '0', check(r.falseFlags.total === 0));
  row('flags', 'fleet workers inactive in the db at the end', fmt(r.inactiveInDbAtEnd), '0', check(r.inactiveInDbAtEnd === 0));
  return rows;
}
