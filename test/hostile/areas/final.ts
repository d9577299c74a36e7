import { afterAll, describe, expect, test } from 'vitest';
import { DEFAULTS } from '@cluster/protocol';
import { SERVER_DEFAULTS } from '../../../packages/master/src/server/options.js';
import { collector, type CaseRecord, type Outcome } from '../support/collector.js';
import { daemons } from '../support/daemon.js';
import { mib, sampler } from '../support/memory.js';
import { HEARTBEAT_TIMEOUT_MS, type World } from '../support/world.js';
import { daemonFigures } from './daemon.js';

const inProcessCrashes: string[] = [];

/** Counts what escapes to the process while the suite runs (vitest reports it too; this is for the summary). */
export function watchProcess(): void {
  process.on('uncaughtExceptionMonitor', (error) => {
    inProcessCrashes.push(`uncaught exception: ${error.message}`);
    collector.text('uncaught exception', `${error.message}\n${error.stack ?? ''}`);
  });
}

/** One line per kind of wrong outcome, with how many times it happened. */
function groupWrong(wrong: readonly CaseRecord[]): string[] {
  const groups = new Map<string, number>();
  for (const c of wrong) {
    const key = `${c.area}: ${c.name}${c.detail ? ` (${c.detail.trim().replace(/\s+/g, ' ').slice(0, 160)})` : ''}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  return [...groups].slice(0, 60).map(([key, n]) => `  ${n > 1 ? `${n} x ` : ''}${key}`);
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')).join('\n');
}

/**
 * The legitimate agents of the in-process master, over the whole run: the
 * real agent was admitted once and never disconnected; the raw one never
 * went a heartbeat timeout without an ack; both are active in the registry
 * with a fresh last_heartbeat.
 */
export function controlArea(getWorld: () => World): void {
  describe('the legitimate agents, connected throughout', () => {
    test('were served from the first attack to the last', async () => {
      const w = getWorld();
      await w.assertServing();
      const first = w.ctl.ackTimes[0] ?? performance.now();
      const gap = w.ctl.maxGapMs(first);
      const nowSeconds = Math.floor(Date.now() / 1000);
      const docs = await Promise.all(['ctl-raw', 'ctl-agent'].map((id) => w.h.worker(id)));
      const fresh = docs.every((d) => d?.is_active === true && nowSeconds - (d.last_heartbeat ?? 0) <= 3);
      collector.note(`control agents: ${w.ctl.ackTimes.length} acks over ${Math.round((performance.now() - first) / 1000)} s, longest gap ${Math.round(gap)} ms; real agent admitted ${w.real.admissions()} time(s), disconnected ${w.real.disconnections()} time(s)`);
      collector.record('control', 'legitimate agents served throughout', gap < HEARTBEAT_TIMEOUT_MS && w.real.admissions() === 1 && w.real.disconnections() === 0 && fresh, 'valid');
      expect(w.real.admissions(), 'the real agent had to reconnect').toBe(1);
      expect(w.real.disconnections()).toBe(0);
      expect(gap, 'the raw control went longer than the heartbeat timeout without an ack').toBeLessThan(HEARTBEAT_TIMEOUT_MS);
      expect(fresh, JSON.stringify(docs.map((d) => [d?.worker_id, d?.is_active, d?.last_heartbeat]))).toBe(true);
    });
  });
}

/** Case 5 and the closing summary: secrets, the masters' survival, the figures. */
export function finalArea(): void {
  describe('5. secrets, survival and the summary', () => {
    const stopped: { label: string; code: number | null; signal: string | null; pids: number[]; closedLogged: boolean }[] = [];

    test('the spawned masters are still up, with the pid they started with (no crash, no restart)', async () => {
      expect(daemons.length).toBeGreaterThanOrEqual(3);
      for (const d of daemons) {
        const alive = d.alive();
        if (!alive) collector.crash(`${d.label} exited early: ${d.stderr().slice(0, 300)}`);
        expect(alive, `${d.label} is not running`).toBe(true);
        const res = await fetch(`${d.label.includes('wss') ? 'https' : 'http'}://127.0.0.1:${d.port}/healthz`).catch((e: Error) => e);
        if (!d.label.includes('wss')) expect(res instanceof Response ? res.status : String(res)).toBe(200);
      }
      for (const d of daemons) {
        const exit = await d.stop();
        const pids = [...new Set(d.lines.map((l) => Number(l.pid)).filter((p) => !Number.isNaN(p)))];
        stopped.push({ label: d.label, code: exit.code, signal: exit.signal, pids, closedLogged: d.lines.some((l) => l.msg === 'closed') });
      }
      for (const s of stopped) {
        const d = daemons.find((x) => x.label === s.label);
        if (s.pids.length !== 1 || s.pids[0] !== d?.pid) collector.crash(`${s.label}: log lines from pids ${s.pids.join(', ')} (started as ${d?.pid})`);
        if (s.code !== 0) collector.crash(`${s.label}: exited ${s.code ?? s.signal} on SIGTERM`);
        expect(s.pids, `${s.label}: every log line from the one process`).toEqual([d?.pid]);
        expect(s.code, `${s.label}: exit on SIGTERM`).toBe(0);
        expect(s.closedLogged).toBe(true);
      }
    });

    test('no in-process master crashed: nothing escaped as an uncaught exception', () => {
      for (const c of inProcessCrashes) collector.crash(c);
      expect(inProcessCrashes).toEqual([]);
    });

    test('no token, token hash, database password or key in any log line, CLI output or error message', () => {
      const secrets = [...collector.secrets].filter(([s]) => s.length >= 8);
      expect(secrets.length, 'the run issued tokens and used passwords').toBeGreaterThan(20);
      // The scanner itself finds what it looks for.
      const planted = secrets[0]?.[0] ?? '';
      expect(collector.scan([{ label: 'planted', read: () => `a line with ${planted} in it` }])).toHaveLength(1);
      const hits = collector.scan();
      const scanned = collector.sources.reduce((n, s) => n + s.read().length, 0);
      collector.note(`secret scan: ${secrets.length} secrets against ${collector.sources.length} captured texts (${mib(scanned)})`);
      collector.record('secrets', 'scan of everything captured', hits.length === 0, 'refusal', hits.join('; '));
      expect(hits).toEqual([]);
    });

    test('summary: registry differences 0, crashes or restarts 0, peak memory bounded', () => {
      expect(collector.registryDiffs, 'registry differences').toEqual([]);
      expect(collector.crashes, 'master crashes or restarts').toEqual([]);
      expect(sampler.peaks.rssBytes, 'peak RSS of the test process with its in-process masters').toBeLessThan(1024 * 1024 * 1024);
    });

    afterAll(async () => {
      // Whatever happened above: no master left running, no database left behind.
      for (const d of daemons) if (d.alive()) await d.stop();
      await collector.releaseAll();
      sampler.stop();
      const areas = [...new Set(collector.cases.map((c) => c.area))];
      const count = (area: string | undefined, outcome?: Outcome): number =>
        collector.cases.filter((c) => (area === undefined || c.area === area) && (outcome === undefined || c.outcome === outcome)).length;
      const rows = [
        ['area', 'tried', 'refused correctly', 'valid, served', 'wrong'],
        ...areas.map((a) => [a, String(count(a)), String(count(a, 'refused')), String(count(a, 'handled')), String(count(a, 'wrong'))]),
        ['total', String(count(undefined)), String(count(undefined, 'refused')), String(count(undefined, 'handled')), String(count(undefined, 'wrong'))],
      ];
      const wrong = collector.cases.filter((c) => c.outcome === 'wrong');
      const lines = [
        '',
        '=== hostile suite summary ===',
        table(rows),
        '',
        `registry differences: ${collector.registryDiffs.length}${collector.registryDiffs.length > 0 ? `\n  ${collector.registryDiffs.slice(0, 20).join('\n  ')}` : ''}`,
        `master crashes or restarts: ${collector.crashes.length}${collector.crashes.length > 0 ? `\n  ${collector.crashes.join('\n  ')}` : ''}`,
        `peak memory, spawned master holding ${daemonFigures.connections} connections: ${mib(daemonFigures.peakRssBytes)} RSS (VmHWM)`,
        `peak memory, test process with its in-process masters: ${mib(sampler.peaks.rssBytes)} RSS, ${mib(sampler.peaks.heapUsedBytes)} heap (${sampler.peaks.samples} samples)`,
        `default timeouts (spawned master): hello ${DEFAULTS.helloTimeoutMs} ms -> closed after ${daemonFigures.helloClosedMs.join('–')} ms; request head ${SERVER_DEFAULTS.requestTimeoutMs} ms -> closed after ${daemonFigures.idleClosedMs.join('–')} ms`,
        ...collector.notes.map((n) => `- ${n}`),
        ...(wrong.length > 0 ? ['wrong outcomes:', ...groupWrong(wrong)] : []),
        '',
      ];
      console.log(lines.join('\n'));
    });
  });
}
