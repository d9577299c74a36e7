/// <reference lib="dom" />
import { execFileSync } from 'node:child_process';
import { MongoClient } from 'mongodb';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import type { Hardware } from '../../packages/protocol/src/index.js';
import { ROOT } from '../cli/run-cli.js';
import { masterCli, registerWorker, scenarioDatabase, startMaster, type DbTarget, type MasterProc } from './support/cluster.js';
import { ProcSet } from './support/processes.js';

/**
 * The fleet page's GPU model column and filter, in Chromium, on a mixed fleet
 * whose inventories are written into the documents (one with markup in its
 * strings: it must show as text).
 */
const procs = new ProcSet();
let target: DbTarget;
let master: MasterProc;
let base: string;
let browser: Browser;
let page: Page;

const HOSTILE = '<img src=x onerror="window.pwned=1">';
const host: Hardware['host'] = { cpu_model: null, arch: 'x86_64', sockets: null, physical_cores: null, threads: null, os_name: null, os_version: null, kernel: null, agent_version: '0.2.0' };
const gpus = (n: number, model: string): Hardware['gpus'] =>
  Array.from({ length: n }, () => ({ vendor: 'NVIDIA', model, memory_mib: 81559, uuid: null, pci_bus_id: null, driver_version: null, cuda_driver_version: null, compute_capability: null, mig_mode: null, mig_devices: null }));
const FLEET: Record<string, Hardware | undefined> = {
  'hw-h100': { gpus: gpus(8, 'NVIDIA H100 80GB HBM3'), host },
  'hw-mixed': { gpus: [...gpus(2, 'NVIDIA L4'), ...gpus(1, HOSTILE)], host },
  'hw-old': undefined,
};

beforeAll(async () => {
  target = { uri: inject('mongodbUri'), database: scenarioDatabase('webhw') };
  for (const id of Object.keys(FLEET)) await registerWorker(target, id);
  const client = new MongoClient(target.uri);
  try {
    const workers = client.db(target.database).collection('WORKER_REGISTRY');
    for (const [id, hardware] of Object.entries(FLEET)) {
      if (hardware !== undefined) await workers.updateOne({ worker_id: id }, { $set: { hardware: { ...hardware, digest: '0'.repeat(64), reported_at: new Date() } } });
    }
  } finally {
    await client.close();
  }
  const issued = await masterCli(target, ['admin', 'token', '--json']);
  const adminToken = (JSON.parse(issued.stdout) as { token: string }).token;
  master = await startMaster(procs, target, 'master');
  base = `http://127.0.0.1:${master.port}`;
  const executablePath = execFileSync('bash', ['scripts/ensure-chromium.sh'], { cwd: ROOT, encoding: 'utf8' }).trim();
  browser = await puppeteer.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  page = await browser.newPage();
  await page.goto(base);
  await page.type('#token', adminToken);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  await page.waitForFunction(() => document.querySelectorAll('#workers tbody tr').length === 3, { timeout: 10_000 });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await procs.killAll();
}, 60_000);

const modelOf = (id: string): Promise<string> => page.$eval(`tr[data-worker-id="${id}"] td.gpu-model`, (td) => td.textContent ?? '');
const shown = (): Promise<string[]> => page.$$eval('#workers tbody tr', (rows) => rows.map((r) => (r as HTMLElement).dataset.workerId ?? ''));

describe.sequential('GPU models on the fleet page', () => {
  test('a column with each worker\'s models; strings from the machine are text', async () => {
    expect(await modelOf('hw-h100')).toBe('8× H100 80GB HBM3');
    expect(await modelOf('hw-mixed')).toBe(`2× L4, 1× ${HOSTILE}`);
    expect(await modelOf('hw-old')).toBe('-');
    expect(await page.$('#workers img')).toBeNull();
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
  });

  test('filtering on the model (case-insensitive substring), and sorting by it', async () => {
    await page.type('#filter-gpu-model', 'h100');
    expect(await shown()).toEqual(['hw-h100']);
    await page.$eval('#filter-gpu-model', (input) => {
      (input as HTMLInputElement).value = 'L4';
      input.dispatchEvent(new Event('input'));
    });
    expect(await shown()).toEqual(['hw-mixed']);
    await page.$eval('#filter-gpu-model', (input) => {
      (input as HTMLInputElement).value = '';
      input.dispatchEvent(new Event('input'));
    });
    await page.click('button[data-key="gpu_model"]');
    expect(await shown()).toEqual(['hw-old', 'hw-mixed', 'hw-h100']);
  });
});
