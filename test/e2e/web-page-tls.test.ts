/// <reference lib="dom" />
import { execFileSync } from 'node:child_process';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { ROOT } from '../cli/run-cli.js';
import { masterCli, registerWorker, scenarioDatabase, startMaster, type DbTarget } from './support/cluster.js';
import { ProcSet } from './support/processes.js';

/**
 * The fleet page served over TLS (`serve --tls-cert --tls-key`) in a real
 * headless Chromium: the session cookie is Secure, and the live stream
 * (/api/events) works through https as it does through http.
 */
const TLS_DIR = 'packages/agent/src/test-support/tls';
const procs = new ProcSet();
let target: DbTarget;
let base: string;
let adminToken: string;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  target = { uri: inject('mongodbUri'), database: scenarioDatabase('webtls') };
  await registerWorker(target, 'tls-1');
  adminToken = (JSON.parse((await masterCli(target, ['admin', 'token', '--json'])).stdout) as { token: string }).token;
  const master = await startMaster(procs, target, 'tls-master', { extraArgs: ['--tls-cert', `${TLS_DIR}/localhost.crt`, '--tls-key', `${TLS_DIR}/localhost.key`] });
  base = `https://127.0.0.1:${master.port}`;
  const executablePath = execFileSync('bash', ['scripts/ensure-chromium.sh'], { cwd: ROOT, encoding: 'utf8' }).trim();
  // The test certificate is self-signed: Chromium is told to accept it rather than given a CA store of ours.
  browser = await puppeteer.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--ignore-certificate-errors'] });
  page = await browser.newPage();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await procs.killAll();
}, 60_000);

describe('the fleet page over TLS', () => {
  test('signing in sets a Secure cookie; the table is live through https', async () => {
    await page.goto(base);
    await page.type('#token', adminToken);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    const [cookie] = await browser.cookies();
    expect(cookie).toMatchObject({ name: 'cm_session', httpOnly: true, sameSite: 'Strict', secure: true });
    await page.waitForSelector('tr[data-worker-id="tls-1"]', { timeout: 5_000 });
    // A change reaches the open page through the event stream, without a reload.
    await registerWorker(target, 'tls-2');
    await page.waitForSelector('tr[data-worker-id="tls-2"]', { timeout: 5_000 });
  });
});
