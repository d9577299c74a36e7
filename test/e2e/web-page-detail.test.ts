/// <reference lib="dom" />
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import type { Hardware } from '../../packages/protocol/src/index.js';
import { ROOT } from '../cli/run-cli.js';
import { masterCli, registerWorker, scenarioDatabase, startMaster, type DbTarget, type MasterProc } from './support/cluster.js';
import { ProcSet } from './support/processes.js';

/**
 * A worker's detail on the fleet page, in Chromium: its inventory and its
 * recent events (read from /api/worker-events with the page's session), and
 * the table's "Inactive since" column. The screenshot goes to
 * .cache/test-output/web-page-detail/, and also to $SCREENSHOT_DIR when set.
 */
const OUT = join(ROOT, '.cache/test-output/web-page-detail');
const procs = new ProcSet();
let target: DbTarget;
let master: MasterProc;
let browser: Browser;
let page: Page;

const HOSTILE = '<img src=x onerror="window.pwned=1">';
const host: Hardware['host'] = { cpu_model: 'AMD EPYC 9454', arch: 'x86_64', sockets: 2, physical_cores: 96, threads: 192, os_name: 'Ubuntu', os_version: '22.04', kernel: '5.15.0-119-generic', agent_version: '0.2.0' };
const gpu = { vendor: 'NVIDIA', model: 'NVIDIA H100 80GB HBM3', memory_mib: 81559, uuid: null, pci_bus_id: null, driver_version: '550.54.15', cuda_driver_version: '12.4', compute_capability: '9.0', mig_mode: 'disabled' as const, mig_devices: null };
const MINUTE = 60_000;

beforeAll(async () => {
  target = { uri: inject('mongodbUri'), database: scenarioDatabase('webdetail') };
  await registerWorker(target, 'gpu-07', '10.0.0.7');
  await registerWorker(target, 'cpu-01', '10.0.0.1');
  const client = new MongoClient(target.uri);
  const now = Date.now();
  try {
    const db = client.db(target.database);
    // gpu-07 went down 25 minutes ago; its inventory is in its document.
    await db.collection('WORKER_REGISTRY').updateOne(
      { worker_id: 'gpu-07' },
      { $set: { is_active: false, updated_at: new Date(now - 25 * MINUTE), hardware: { gpus: [gpu, gpu], host, digest: '0'.repeat(64), reported_at: new Date(now - 3 * 60 * MINUTE) } } },
    );
    const event = (minutesAgo: number, kind: string, cause: string | null, detail?: Record<string, unknown>) => ({
      _id: `m1:${minutesAgo}`, worker_id: 'gpu-07', at: new Date(now - minutesAgo * MINUTE), kind, cause, instance: 'a1b2c3d4-0000-4000-8000-000000000001', ...(detail === undefined ? {} : { detail }),
    });
    await db.collection('WORKER_EVENTS').insertMany([
      event(180, 'admitted', null, { address: '10.0.0.7', agent_version: HOSTILE, protocol_version: 2 }),
      event(179, 'inventory_changed', null, { from: null, to: 'ab12'.repeat(4), gpus: 2, gpu_models: ['NVIDIA H100 80GB HBM3'] }),
      event(26, 'disconnected', 'connection_lost', { code: 1006, reason: null }),
      event(25, 'flagged_inactive', 'timeout'),
      event(20, 'refused', 'unauthorized', { address: '10.0.0.7' }),
    ] as never[]);
  } finally {
    await client.close();
  }
  const issued = await masterCli(target, ['admin', 'token', '--json']);
  const adminToken = (JSON.parse(issued.stdout) as { token: string }).token;
  master = await startMaster(procs, target, 'master');
  const executablePath = execFileSync('bash', ['scripts/ensure-chromium.sh'], { cwd: ROOT, encoding: 'utf8' }).trim();
  browser = await puppeteer.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  await page.goto(`http://127.0.0.1:${master.port}`);
  await page.type('#token', adminToken);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  await page.waitForFunction(() => document.querySelectorAll('#workers tbody tr').length === 2, { timeout: 10_000 });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await procs.killAll();
}, 60_000);

describe.sequential("a worker's detail on the fleet page", () => {
  test('"Inactive since" says when an inactive worker was flagged; an active or never-seen one says "-"', async () => {
    const since = (id: string): Promise<string> => page.$eval(`tr[data-worker-id="${id}"] td.since`, (td) => td.textContent ?? '');
    expect(await since('gpu-07')).toBe('25m ago');
    // cpu-01 was registered and never connected: inactive since its registration.
    expect(await since('cpu-01')).toMatch(/^\d+s ago$/);
  });

  test('the detail: fields, inventory, recent events newest first; strings from the machine are text', async () => {
    await page.click('tr[data-worker-id="gpu-07"] td:first-child button');
    await page.waitForFunction(() => document.querySelectorAll('#detail-events tbody tr').length > 0, { timeout: 5_000 });
    expect(await page.$eval('#detail', (d) => (d as HTMLDialogElement).open)).toBe(true);
    expect(await page.$eval('#detail-title', (h) => h.textContent)).toBe('Worker gpu-07');
    expect(await page.$eval('#detail-host', (p) => p.textContent)).toContain('AMD EPYC 9454 · x86_64 · 2 sockets, 96 cores, 192 threads');
    expect(await page.$$eval('#detail-gpus tbody tr', (rows) => rows.map((r) => Array.from(r.querySelectorAll('td'), (td) => td.textContent)))).toEqual([
      ['0', 'NVIDIA H100 80GB HBM3', '81559', '550.54.15', '12.4', 'disabled'],
      ['1', 'NVIDIA H100 80GB HBM3', '81559', '550.54.15', '12.4', 'disabled'],
    ]);
    const rows = await page.$$eval('#detail-events tbody tr', (trs) => trs.map((r) => Array.from(r.querySelectorAll('td'), (td) => td.textContent).slice(1)));
    // `worker register` wrote the newest (the test's start); the others were put in the past.
    expect(rows[0]).toEqual(['registered', '', 'address=10.0.0.7']);
    expect(rows.slice(1)).toEqual([
      ['refused', 'unauthorized', 'address=10.0.0.7'],
      ['flagged inactive', 'timeout', ''],
      ['disconnected', 'connection_lost', 'code=1006'],
      ['inventory changed', '', `null → ${'ab12'.repeat(4)} gpus=2 gpu_models=["NVIDIA H100 80GB HBM3"]`],
      ['admitted', '', `address=10.0.0.7 agent_version=${HOSTILE} protocol_version=2`],
    ]);
    expect(await page.$('#detail img')).toBeNull();
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    await mkdir(OUT, { recursive: true });
    const shot = join(OUT, 'detail.png');
    await page.screenshot({ path: shot });
    const extra = process.env.SCREENSHOT_DIR;
    if (extra !== undefined && extra !== '') {
      await mkdir(extra, { recursive: true });
      await copyFile(shot, join(extra, 'h33-detail.png'));
    }
    await page.click('#detail-close');
    expect(await page.$eval('#detail', (d) => (d as HTMLDialogElement).open)).toBe(false);
  });

  test('the events API behind it: an admin token or the session; a bad filter is 400 with a sentence', async () => {
    const base = `http://127.0.0.1:${master.port}/api/worker-events`;
    expect((await fetch(`${base}?worker=gpu-07`)).status).toBe(401);
    const cookies = (await browser.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const ok = await fetch(`${base}?worker=gpu-07&kind=flagged_inactive,refused&since=2h`, { headers: { cookie: cookies } });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { kind: string }[]).map((e) => e.kind)).toEqual(['flagged_inactive', 'refused']);
    const bad = await fetch(`${base}?kind=exploded`, { headers: { cookie: cookies } });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('unknown event kind "exploded"; kinds: registered,');
  });
});
