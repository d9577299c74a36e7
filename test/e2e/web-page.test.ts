/// <reference lib="dom" />
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { ROOT } from '../cli/run-cli.js';
import { FAKE_SPECS, agentUrl, masterCli, registerWorker, scenarioDatabase, startAgent, startMaster, type DbTarget, type MasterProc } from './support/cluster.js';
import { ProcSet, type Proc } from './support/processes.js';

/**
 * The fleet page in a real headless Chromium (Debian's, installed by
 * scripts/ensure-chromium.sh), against a real `cluster-master serve`, real
 * `cluster-agent`s and the dev database.
 */
const OUT = join(ROOT, '.cache/test-output/web-page');
const procs = new ProcSet();
const agents = new Map<string, Proc>();
let target: DbTarget;
let master: MasterProc;
let base: string;
let adminToken: string;
let browser: Browser;
let page: Page;
/** Every server-sent event the page received (over the DevTools protocol), in order. */
const received: { event: string; data: string }[] = [];

const WORKERS = [
  { id: 'web-1', specs: FAKE_SPECS },
  { id: 'web-2', specs: { total_cpu: 4, total_memory: 7.5, total_storage: 100, total_gpu: 0 } },
  { id: 'web-3', specs: { total_cpu: 64, total_memory: 251.5, total_storage: 2000, total_gpu: 8 } },
];

async function activeIds(): Promise<string[]> {
  const res = await fetch(`${base}/api/workers?active`, { headers: { Authorization: `Bearer ${adminToken}` } });
  return ((await res.json()) as { worker_id: string }[]).map((w) => w.worker_id);
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await probe())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}\n${procs.diagnostics()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const rowCount = (): Promise<number> => page.$$eval('#workers tbody tr', (rows) => rows.length);
const totals = (id: string): Promise<string[]> => page.$$eval(`#${id} td`, (cells) => cells.map((c) => c.textContent ?? ''));

beforeAll(async () => {
  await mkdir(OUT, { recursive: true });
  target = { uri: inject('mongodbUri'), database: scenarioDatabase('web') };
  const tokens = new Map<string, string>();
  for (const w of WORKERS) tokens.set(w.id, await registerWorker(target, w.id));
  const issued = await masterCli(target, ['admin', 'token', '--json']);
  adminToken = (JSON.parse(issued.stdout) as { token: string }).token;
  master = await startMaster(procs, target, 'master');
  base = `http://127.0.0.1:${master.port}`;
  for (const w of WORKERS) {
    agents.set(w.id, startAgent(procs, w.id, { masterUrl: agentUrl(master), workerId: w.id, token: tokens.get(w.id) ?? '', specs: w.specs }));
  }
  await until('three active workers', async () => (await activeIds()).length === 3);
  const executablePath = execFileSync('bash', ['scripts/ensure-chromium.sh'], { cwd: ROOT, encoding: 'utf8' }).trim();
  // --no-sandbox: CI runs the tests as root, where Chromium's sandbox refuses to start.
  browser = await puppeteer.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 560 });
  const devtools = await page.createCDPSession();
  await devtools.send('Network.enable');
  devtools.on('Network.eventSourceMessageReceived', (e) => received.push({ event: e.eventName, data: e.data }));
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await procs.killAll();
}, 60_000);

describe.sequential('the fleet page in Chromium', () => {
  test('a wrong token is refused: 401, the sign-in form again, no cookie', async () => {
    await page.goto(base);
    await page.type('#token', 'W'.repeat(43));
    const [response] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect(response?.status()).toBe(401);
    expect(await page.$eval('.error', (e) => e.textContent)).toBe('That token was not accepted.');
    expect(await page.$('#workers')).toBeNull();
    expect(await browser.cookies()).toHaveLength(0);
  });

  test('the icon the browser asks every site for is served, and asking logs no warning', async () => {
    const from = master.proc.lines.length;
    const response = await page.goto(`${base}/favicon.ico`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-type']).toBe('image/svg+xml');
    // A refusal is logged before it is answered; one more page load gives its line time to arrive.
    await page.goto(base);
    const warned = master.proc.lines.slice(from).filter((l) => l.json?.path === '/favicon.ico' && Number(l.json.level) >= 40);
    expect(warned.map((l) => l.text)).toEqual([]);
  });

  test('signing in: an HttpOnly, SameSite=Strict cookie; N rows and the right totals; no inline script allowed', async () => {
    await page.goto(base);
    await page.type('#token', adminToken);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    const [cookie] = await browser.cookies();
    expect(cookie).toMatchObject({ name: 'cm_session', httpOnly: true, sameSite: 'Strict', secure: false });
    await page.waitForFunction(() => document.querySelectorAll('#workers tbody tr').length === 3, { timeout: 5_000 });
    // Workers, CPU cores, memory GiB, storage GB, GPUs of the three fake machines.
    expect(await totals('total-active')).toEqual(['3', '80', '290.25', '2612', '10']);
    expect(await totals('total-registered')).toEqual(['3', '80', '290.25', '2612', '10']);
    const csp = (await fetch(base)).headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    await page.screenshot({ path: join(OUT, 'fleet.png') });
  });

  test('sorting and filtering', async () => {
    await page.click('button[data-key="total_cpu"]');
    await page.click('button[data-key="total_cpu"]');
    expect(await page.$$eval('#workers tbody tr', (rows) => rows.map((r) => (r as HTMLElement).dataset.workerId))).toEqual(['web-3', 'web-1', 'web-2']);
    await page.click('#filter-gpu');
    expect(await rowCount()).toBe(2);
    await page.click('#filter-gpu');
    await page.type('#filter-text', 'web-2');
    expect(await rowCount()).toBe(1);
    await page.$eval('#filter-text', (input) => {
      (input as HTMLInputElement).value = '';
      input.dispatchEvent(new Event('input'));
    });
    expect(await rowCount()).toBe(3);
  });

  test('SIGTERM an agent: its row turns inactive within 2 s, without a reload; the ages tick', async () => {
    const age = (): Promise<string> => page.$eval('tr[data-worker-id="web-3"] td.age', (td) => td.textContent ?? '');
    expect(await age()).toMatch(/^\d+s ago$/);
    const sentAt = agents.get('web-2')?.signal('SIGTERM') ?? 0;
    await page.waitForSelector('tr[data-worker-id="web-2"][data-active="false"]', { timeout: 2_000 });
    const tookMs = performance.now() - sentAt;
    console.log(`[web-page] SIGTERM → row inactive on the page: ${Math.round(tookMs)} ms`);
    expect(tookMs).toBeLessThan(2_000);
    expect(await page.$eval('tr[data-worker-id="web-2"] td.state', (td) => td.textContent)).toBe('✕ inactive');
    expect(await totals('total-active')).toEqual(['2', '76', '282.75', '2512', '10']);
    expect(await page.evaluate(() => performance.getEntriesByType('navigation').length)).toBe(1);
  });

  test('a worker registered from the CLI appears', async () => {
    const startedAt = performance.now();
    await registerWorker(target, 'web-new', '10.1.2.3');
    await page.waitForSelector('tr[data-worker-id="web-new"][data-active="false"]', { timeout: 5_000 });
    console.log(`[web-page] CLI register → row on the page: ${Math.round(performance.now() - startedAt)} ms (includes the CLI's own start)`);
    expect(await rowCount()).toBe(4);
    const silentFor = (): Promise<number> => page.$eval('tr[data-worker-id="web-2"] td.age', (td) => Number.parseInt(td.textContent ?? '', 10));
    const before = await silentFor();
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await silentFor()).toBeGreaterThan(before);
    await page.screenshot({ path: join(OUT, 'fleet-after.png') });
    const sizes = await Promise.all(['index.html', 'app.js', 'app.css'].map(async (f) => (await stat(join(ROOT, 'packages/master/web', f))).size));
    console.log(`[web-page] page size: ${sizes.reduce((a, b) => a + b, 0)} bytes (index.html ${sizes[0]}, app.js ${sizes[1]}, app.css ${sizes[2]}); screenshots in ${OUT}`);
  });

  test('markup in a document written behind the CLI (another tool) shows as text and runs nothing', async () => {
    const id = '<img src=x onerror="window.__pwned=1">';
    const ip = '<script>window.__pwned=2</script>';
    const client = new MongoClient(target.uri);
    try {
      const now = new Date();
      await client.db(target.database).collection('WORKER_REGISTRY').insertOne({
        worker_id: id, worker_ip: ip, total_cpu: 1, total_memory: 1, total_storage: 1, total_gpu: 0,
        is_active: false, last_heartbeat: 0, registered_at: now, updated_at: now,
      });
      // A new admission version, as the admin tools set it: the page shows the document at its next tick (a write that
      // sets none shows within the master's fleetFullReadMs, 60 s: test/integration/fleet-events.test.ts).
      await client.db(target.database).collection<{ _id: string }>('REGISTRY_VERSION').updateOne({ _id: 'admission' }, { $set: { version: randomUUID(), changed_at: now } }, { upsert: true });
    } finally {
      await client.close();
    }
    await page.waitForFunction((want) => Array.from(document.querySelectorAll<HTMLElement>('#workers tbody tr')).some((tr) => tr.dataset.workerId === want), { timeout: 5_000 }, id);
    const cells = await page.$$eval('#workers tbody tr', (rows, want) => {
      const row = (rows as HTMLElement[]).find((tr) => tr.dataset.workerId === want);
      const tds = row === undefined ? [] : Array.from(row.querySelectorAll<HTMLTableCellElement>('td'));
      // The id is the text of the button that opens the worker's detail: no element of the document's making.
      return tds.slice(0, 2).map((td) => [td.textContent, td.querySelectorAll(':not(button)').length]);
    }, id);
    expect(cells).toEqual([[id, 0], [ip, 0]]);
    expect(await page.$('#workers img')).toBeNull();
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  });

  test('heartbeats alone come as `beats` events (not the whole fleet), and the rows take them', async () => {
    type Beats = { beats: { last_heartbeat: number; worker_ids: string[] }[] };
    const lastBeatOfWeb3 = (): number | undefined => {
      const last = received.at(-1);
      if (last?.event !== 'beats') return undefined;
      return (JSON.parse(last.data) as Beats).beats.find((g) => g.worker_ids.includes('web-3'))?.last_heartbeat;
    };
    // The last event so far is heartbeats alone, web-3's among them: the row shows that heartbeat (heartbeats only move
    // forward, so no whole event before it brought it).
    await until('a beats event naming web-3, last', () => Promise.resolve(lastBeatOfWeb3() !== undefined));
    const beat = lastBeatOfWeb3() ?? 0;
    await page.waitForFunction((b) => Number(document.querySelector<HTMLElement>('tr[data-worker-id="web-3"] td.age')?.dataset.heartbeat) >= b, { timeout: 2_000 }, beat);
  });

  test('a sign-in form on another site, submitted by Chromium with a valid token: 403, no new session', async () => {
    // Another origin (same host, another port): a page that posts the master's sign-in form by itself.
    const attacker = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(`<form method="post" action="${base}/login"><input name="token" value="${adminToken}"></form><script>document.forms[0].submit()</script>`);
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    try {
      const before = (await browser.cookies()).map((c) => c.value);
      const posted = page.waitForResponse((r) => r.url() === `${base}/login`);
      await page.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`);
      expect((await posted).status()).toBe(403);
      expect((await browser.cookies()).map((c) => c.value)).toEqual(before);
    } finally {
      attacker.close();
      await page.goto(base);
    }
  });

  test('revoking the token ends the session: the next load shows the sign-in form', async () => {
    const listed = JSON.parse((await masterCli(target, ['admin', 'token', '--list', '--json'])).stdout) as { token_id: string }[];
    const revoked = await masterCli(target, ['admin', 'token', '--revoke', listed[0]?.token_id ?? '']);
    expect(revoked.code).toBe(0);
    await page.reload();
    expect(await page.$('#token')).not.toBeNull();
    expect(await page.$('#workers')).toBeNull();
    const cookie = (await browser.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    expect((await fetch(`${base}/api/workers`, { headers: { Cookie: cookie } })).status).toBe(401);
  });
});
