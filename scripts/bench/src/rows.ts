import type { BenchArgs } from './args.js';
import { check, fmt, type Row } from './report.js';
import type { AgentResult } from './scenario-agent.js';
import type { BareResult } from './scenario-bare.js';
import type { DetectionResult } from './scenario-detection.js';
import type { SteadyResult } from './scenario-steady.js';
import type { SpecsChangeResult } from './scenario-specs.js';
import type { StormResult } from './scenario-storm.js';
import type { ReplayResult } from './replay.js';

const KB = 1_000;
const MB = 1_000_000;

/** The performance limits (docs/DESIGN.md, "Performance limits"). The heartbeat rate scales with --agents (1,900/s is 95 % of 10,000 agents at 5 s). */
function limits(args: BenchArgs, intervalMs: number, timeoutMs: number) {
  return {
    agents: args.agents,
    heartbeatsPerSecond: (0.95 * args.agents * 1_000) / intervalMs,
    writesPerSecond: 2,
    lagP99Ms: 2_000,
    cleanP99Ms: 1_000,
    silentP99Ms: timeoutMs + 2_000,
    // A restarted master has its whole fleet back within 20 s (the target at 19,000 agents too).
    stormMs: 20_000,
    bytesPerAgent: 30 * KB,
    cpuRatio: 3,
    agentRssBytes: 60 * MB,
    agentCoreShare: 0.005,
  };
}

export function buildRows(args: BenchArgs, results: Record<string, unknown>, intervalMs = 5_000, timeoutMs = 15_000): Row[] {
  const L = limits(args, intervalMs, timeoutMs);
  const rows: Row[] = [];
  const row = (scenario: string, metric: string, value: string, target = '', verdict: Row['verdict'] = ''): void => {
    rows.push({ scenario, metric, value, target, verdict });
  };
  const steady = results.steady as SteadyResult | undefined;
  const bare = results.bare as BareResult | undefined;
  const ramp = results.ramp as { seconds: number; perSecond: number; maxInFlight?: number; complete?: boolean } | undefined;

  if (ramp !== undefined) {
    const paced = ramp.maxInFlight === undefined ? '' : `, ≤ ${fmt(ramp.maxInFlight)} in flight`;
    row('setup', `ramp to ${fmt(args.agents)} agents at ${ramp.perSecond}/s${paced}`, `${fmt(ramp.seconds, 's')}${ramp.complete === false ? ' (not all admitted)' : ''}`);
  }
  if (steady !== undefined) {
    const s = steady;
    row('setup', `spec writes before the window (first connections; --seed ${args.seed})`, `${s.specsWritesBeforeWindow.count} commands, ${fmt(s.specsWritesBeforeWindow.totalMs, 'ms', 0)}`);
    row('steady', 'agents connected (min; gauge, incl. real agents)', fmt(s.agentsMin), `≥ ${fmt(L.agents)}`, check(s.agentsMin >= L.agents));
    row('steady', 'heartbeats ingested /s', fmt(s.heartbeatsReceivedPerSecond), `≥ ${fmt(L.heartbeatsPerSecond)}`, check(s.heartbeatsReceivedPerSecond >= L.heartbeatsPerSecond));
    row('steady', 'heartbeat ids written to the db /s', fmt(s.heartbeatIdsWrittenPerSecond), '', '');
    row('steady', 'db write commands /s', fmt(s.dbWritesPerSecond, '', 2), '≤ 2', check(s.dbWritesPerSecond <= L.writesPerSecond));
    row('steady', 'db read commands /s', fmt(s.dbReadsPerSecond, '', 2));
    row('steady', 'history: insert commands / events written in the window', `${s.dbByCommand.insert?.count ?? 0} / ${fmt(s.historyEventsWritten)}`);
    row('steady', 'heartbeat write cycle (start to start) p50 / max', `${fmt(s.heartbeatWriteGapMs.p50, 'ms', 0)} / ${fmt(s.heartbeatWriteGapMs.max, 'ms', 0)}`);
    row('steady', 'heartbeat → db lag p50', fmt(s.lagMs.p50, 'ms', 0));
    row('steady', 'heartbeat → db lag p99', fmt(s.lagMs.p99, 'ms', 0), '≤ 2,000 ms', check(s.lagMs.p99 === undefined ? undefined : s.lagMs.p99 <= L.lagP99Ms && s.lagUnresolved === 0));
    const falseFlags = (s.flaggedInactive.sweep ?? 0) + (s.flaggedInactive.timeout ?? 0);
    row('steady', 'false inactive flags (sweep + timeout; every agent beating)', `${falseFlags} (sweep ${s.flaggedInactive.sweep ?? 0})`, '0', check(falseFlags === 0));
    row('steady', 'master CPU (share of one core)', fmt(s.cpuCoreShare * 100, '%'));
    row('steady', 'master RSS (median)', fmt((s.rssMedianBytes ?? 0) / MB, 'MB'));
    row('steady', 'master memory per connected agent', fmt((s.bytesPerAgent ?? Number.NaN) / KB, 'KB'), '≤ 30 KB', check(s.bytesPerAgent === undefined ? undefined : s.bytesPerAgent <= L.bytesPerAgent));
    row('steady', 'master CPU per heartbeat (whole window / median of 10 s)', `${fmt(s.cpuUsPerHeartbeat, 'µs')} / ${fmt(s.cpuUsPerHeartbeatMedian, 'µs')}`);
  }
  if (bare !== undefined) {
    row('baseline', 'bare ws server CPU per heartbeat (whole / median of 10 s)', `${fmt(bare.cpuUsPerHeartbeat, 'µs')} / ${fmt(bare.cpuUsPerHeartbeatMedian, 'µs')}`);
    if (steady !== undefined) {
      // Medians of 10 s sub-windows: this machine is shared, and a burst of other work inflates one window.
      const ratio = (steady.cpuUsPerHeartbeatMedian ?? steady.cpuUsPerHeartbeat) / (bare.cpuUsPerHeartbeatMedian ?? bare.cpuUsPerHeartbeat);
      const whole = steady.cpuUsPerHeartbeat / bare.cpuUsPerHeartbeat;
      row('baseline', 'master ÷ bare CPU per heartbeat (medians; whole windows)', `${fmt(ratio, '×', 2)} (${fmt(whole, '×', 2)})`, '≤ 3×', check(Number.isFinite(ratio) ? ratio <= L.cpuRatio : undefined));
    }
  }
  const raw = results.raw as ReplayResult | undefined;
  if (raw !== undefined && steady !== undefined) {
    const master = Object.values(steady.masterWriteMs).reduce((a, b) => ({ count: a.count + b.count, totalMs: a.totalMs + b.totalMs }), { count: 0, totalMs: 0 });
    const rawUpdates = raw.byCommand.update ?? { count: 0, totalMs: 0 };
    const masterMean = master.count > 0 ? master.totalMs / master.count : Number.NaN;
    const rawMean = rawUpdates.count > 0 ? rawUpdates.totalMs / rawUpdates.count : Number.NaN;
    row('baseline', 'db write time per command: master / raw driver', `${fmt(masterMean, 'ms', 0)} / ${fmt(rawMean, 'ms', 0)}`);
    row('baseline', 'master ÷ raw db time (write, mean)', fmt(masterMean / rawMean, '×', 2));
  }
  const det = results.detection as DetectionResult | undefined;
  if (det !== undefined) {
    const c = det.cleanClose;
    row('detection', `clean close → inactive p50 (${c.agents})`, fmt(c.ms.p50, 'ms', 0));
    row('detection', `clean close → inactive p99 (${c.agents})`, fmt(c.ms.p99, 'ms', 0), '≤ 1,000 ms', check(c.ms.p99 === undefined ? undefined : c.ms.p99 <= L.cleanP99Ms && c.undetected === 0));
    if (c.inactiveBefore + det.silent.inactiveBefore > 0) {
      row('detection', 'already inactive before close / silence (false flags)', `${c.inactiveBefore} / ${det.silent.inactiveBefore}`, '0', 'missed');
    }
    const q = det.silent;
    row('detection', `silent → inactive p50 (${q.agents})`, fmt(q.ms.p50, 'ms', 0));
    row('detection', `silent → inactive p99 (${q.agents})`, fmt(q.ms.p99, 'ms', 0), `≤ ${fmt(L.silentP99Ms)} ms`, check(q.ms.p99 === undefined ? undefined : q.ms.p99 <= L.silentP99Ms && q.undetected === 0));
    row('detection', 'silent: last beat → inactive p99', fmt(q.sinceLastBeatMs.p99, 'ms', 0));
  }
  const storm = results.storm as StormResult | undefined;
  if (storm !== undefined) {
    row('storm', 'master restart (SIGKILL → listening)', fmt(storm.restartMs, 'ms', 0));
    row('storm', 'registry view loaded (SIGKILL → /readyz 200)', fmt(storm.readyMs, 'ms', 0));
    row('storm', `all ${fmt(storm.agents)} admitted again after SIGKILL (gauge)`, fmt(storm.allActiveMs === undefined ? undefined : storm.allActiveMs / 1_000, 's'), `≤ ${L.stormMs / 1_000} s`, check(storm.allActiveMs !== undefined && storm.allActiveMs <= L.stormMs));
    row('storm', 'all admitted again, as the fleet sees it (no scrape needed)', fmt(storm.allWelcomedAtFleetMs === undefined ? undefined : storm.allWelcomedAtFleetMs / 1_000, 's'));
    row('storm', '/metrics scrapes failed / longest gap between answers', `${storm.scrapeFailures ?? 0} / ${fmt(storm.longestScrapeGapMs === undefined ? undefined : storm.longestScrapeGapMs / 1_000, 's')}`);
    row('storm', 'false inactive flags (new master; db at end)', `${storm.falseInactiveFlags ?? 'unknown (no /metrics)'} (db: ${storm.inactiveInDbAtEnd})`, '0', check(storm.falseInactiveFlags === 0 && storm.inactiveInDbAtEnd === 0));
    row('storm', 'flags by cause: sweep / timeout / clean close', ['sweep', 'timeout', 'clean_close'].map((c) => String(storm.flaggedByCause[c] ?? 0)).join(' / '));
    row('storm', 'upgrades refused 503 + Retry-After: view loading / admissions in flight at the bound / admissions', `${fmt(storm.refusals.unavailable ?? 0)} / ${fmt(storm.refusals.busy ?? 0)} / ${fmt(storm.admissions)}`);
    const h = storm.holds ?? {};
    row('storm', 'upgrades held instead: taken / expired (then 503) / peer left', [h.taken ?? 0, h.expired ?? 0, h.gone ?? 0].map((n) => fmt(n)).join(' / '));
    if (storm.timeline !== undefined) {
      const o = storm.timeline.byOutcome;
      const gaveUp = (o['closed-before-welcome'] ?? 0) + (o['error-other'] ?? 0);
      row('storm', "agents' attempts: refused (port closed) / 503 / gave up before the welcome / welcomed", [o.refused ?? 0, o['http-503'] ?? 0, gaveUp, o.welcomed ?? 0].map((n) => fmt(n)).join(' / '));
      const w = storm.timeline.welcomeMs;
      row('storm', 'attempt → welcome, welcomed attempts: p50 / p99', w === undefined ? '—' : `${fmt(w.p50, 'ms', 0)} / ${fmt(w.p99, 'ms', 0)}`);
    }
    row('storm', 'db write / read commands /s during it', `${fmt(storm.dbWritesPerSecond, '', 2)} / ${fmt(storm.dbReadsPerSecond, '', 2)}`);
    // The master's only inserts are the history's (WORKER_EVENTS): one insertMany per flush at most.
    row('storm', 'history: insert commands to all back / events written by the end', `${storm.dbByCommand.insert?.count ?? 0} / ${fmt(storm.historyEventsWritten)}`);
  }
  const specs = results.specsChange as SpecsChangeResult | undefined;
  if (specs !== undefined) {
    row('specs', `${specs.agents} agents reconnect with changed specs: write time`, fmt(specs.specsWriteMs, 'ms', 0));
    row('specs', 'heartbeat writes stalled (longest gap)', fmt(specs.heartbeatStallMs, 'ms', 0));
    row('specs', 'false inactive flags meanwhile', String(specs.falseInactiveFlags), '0', check(specs.falseInactiveFlags === 0));
  }
  const agent = results.agent as AgentResult | undefined;
  if (agent !== undefined) {
    const a = agent.installed;
    const flags = a.nodeFlags.length === 0 ? 'plain node' : a.nodeFlags.join(' ');
    row('agent', `real agent RSS, max (${flags})`, fmt(a.rssMaxBytes / MB, 'MB'), '< 60 MB', check(a.rssMaxBytes < L.agentRssBytes));
    row('agent', `real agent CPU after ${a.steadyFromS} s (${flags})`, fmt(a.cpuSteady === undefined ? undefined : a.cpuSteady * 100, '%', 3), '< 0.5 %', check(a.cpuSteady === undefined ? undefined : a.cpuSteady < L.agentCoreShare));
    row('agent', 'real agent CPU, whole run incl. start-up', fmt(a.cpuWholeRun * 100, '%', 3));
    row('agent', 'probe time', fmt(a.probeMs, 'ms', 0));
    row('agent', 'plain `node`: RSS max / CPU after 10 s', `${fmt(agent.plain.rssMaxBytes / MB, 'MB')} / ${fmt(agent.plain.cpuSteady === undefined ? undefined : agent.plain.cpuSteady * 100, '%', 3)}`);
  }
  return rows;
}
