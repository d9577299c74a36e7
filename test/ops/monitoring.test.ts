import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openHarness, type Harness, type RunningMaster } from '../integration/helpers/harness.js';

/**
 * monitoring/ checked as CI must: the alert rules with Debian's promtool
 * (`check rules`, then `test rules` with the unit tests of every alert, its
 * output printed into the log), and every metric the rules and the Grafana
 * dashboard query is one a real master serves on /metrics.
 */
const run = promisify(execFile);
const RULES = 'monitoring/alerts.yml';
const RULE_TESTS = 'monitoring/tests/alerts.test.yml';
const DASHBOARD = 'monitoring/grafana-dashboard.json';

let promtool: string;

async function promtoolSays(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(promtool, args, { timeout: 60_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

beforeAll(async () => {
  promtool = (await run('bash', ['scripts/ensure-promtool.sh'], { timeout: 120_000 })).stdout.trim();
}, 150_000);

describe('alert rules (promtool)', () => {
  test('promtool check rules accepts monitoring/alerts.yml', async () => {
    const { code, output } = await promtoolSays('check', 'rules', RULES);
    console.log(`$ promtool check rules ${RULES}\n${output}`);
    expect(output).toContain('SUCCESS');
    expect(code).toBe(0);
  });

  test('promtool test rules: the unit tests of every alert pass', async () => {
    const { code, output } = await promtoolSays('test', 'rules', RULE_TESTS);
    console.log(`$ promtool test rules ${RULE_TESTS}\n${output}`);
    expect(output).toContain('SUCCESS');
    expect(code).toBe(0);
  });

  test('every alert has a case where it fires and one where it stays quiet', async () => {
    const alerts = [...(await readFile(RULES, 'utf8')).matchAll(/^\s*- alert: (\w+)$/gm)].map((m) => m[1] ?? '');
    expect(alerts.length).toBeGreaterThanOrEqual(6);
    const tests = await readFile(RULE_TESTS, 'utf8');
    for (const alert of alerts) {
      expect(tests, `${alert} fires somewhere`).toMatch(new RegExp(`alertname: ${alert}\\n\\s*exp_alerts:\\n\\s*- exp_labels`));
      expect(tests, `${alert} stays quiet somewhere`).toMatch(new RegExp(`alertname: ${alert}\\n\\s*exp_alerts: \\[\\]`));
    }
  });
});

describe('the metrics the rules and the dashboard use are served by a real master', () => {
  let h: Harness;
  let m: RunningMaster;
  beforeAll(async () => {
    h = await openHarness();
    await h.register('w1');
    m = await h.startMaster();
  });
  afterAll(async () => {
    await h.close();
  });

  /** Metric names in a PromQL expression: the master's (cluster_…) and Prometheus's own `up`. */
  const namesIn = (expr: string): string[] => [...expr.matchAll(/\b(cluster_[a-z0-9_]+|up)\b(?!\s*\()/g)].map((m) => m[1] ?? '');

  test('every cluster_* name in monitoring/ is on /metrics (histograms with _bucket, _count, _sum)', async () => {
    const text = await (await fetch(`${m.http}/metrics`)).text();
    const served = new Set<string>();
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      if (name === undefined) continue;
      served.add(name);
      if (type === 'histogram') for (const suffix of ['_bucket', '_count', '_sum']) served.add(name + suffix);
    }
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `dashboard panel "${p.title}"`, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(10);
    for (const [, alert, expr] of (await readFile(RULES, 'utf8')).matchAll(/- alert: (\w+)\n(?:\s+#.*\n)*\s+expr: (?:>-\n)?([\s\S]*?)\n\s+(?:for|labels):/g)) {
      exprs.push({ where: `alert ${alert ?? ''}`, expr: expr ?? '' });
    }
    expect(exprs.filter((e) => e.where.startsWith('alert')).length).toBeGreaterThanOrEqual(6);
    const used = new Set<string>();
    for (const { where, expr } of exprs) {
      const names = namesIn(expr);
      expect(names.length, `${where} queries a metric: ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        used.add(name);
        if (name !== 'up') expect(served.has(name), `${where} uses ${name}, which the master does not export`).toBe(true);
      }
    }
    // The registry-wide gauges are among them, and were read at this scrape.
    expect([...used]).toEqual(expect.arrayContaining(['cluster_master_registry_workers', 'cluster_master_registry_oldest_active_heartbeat_age_seconds', 'cluster_master_registry_longest_inactive_seconds']));
    expect(text).toMatch(/^cluster_master_registry_workers\{state="inactive"\} 1$/m);
  });
});
