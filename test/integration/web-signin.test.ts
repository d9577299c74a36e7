import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createAdminTokenStore } from '../../packages/master/src/registry/admin-token-store.js';
import { openHarness, type Harness, type RunningMaster } from './helpers/harness.js';

/** The page's sign-in and sign-out forms over real HTTP: a form posted from another site is refused. */
let h: Harness;
let m: RunningMaster;
let token: string;

beforeAll(async () => {
  h = await openHarness();
  token = (await createAdminTokenStore(h.db).issue()).token;
  m = await h.startMaster();
});
afterAll(async () => {
  await h.close();
});

interface Answer {
  status: number;
  cookie: string | undefined;
  body: string;
}

/** Where a browser says a form comes from; neither header: curl. */
interface From {
  origin?: string;
  site?: string;
}

function post(path: string, from: From, form: string): Promise<Answer> {
  const url = new URL(path, m.http);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded' };
    if (from.origin !== undefined) headers.Origin = from.origin;
    if (from.site !== undefined) headers['Sec-Fetch-Site'] = from.site;
    const req = request(url, { method: 'POST', headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, cookie: res.headers['set-cookie']?.[0], body }));
    });
    req.on('error', reject);
    req.end(form);
  });
}

describe('POST /login and /logout', () => {
  test.each<[string, From]>([
    ['the page itself, as Chromium sends it (no-referrer: Origin "null")', { origin: 'null', site: 'same-origin' }],
    ['a browser that names the Origin only', { origin: 'ORIGIN' }],
    ['curl (neither header)', {}],
  ])('from %s: signed in, 303 and a cookie', async (_name, from) => {
    // ORIGIN: the master's own origin, known only once it listens.
    const answer = await post('/login', from.origin === 'ORIGIN' ? { origin: m.http } : from, `token=${encodeURIComponent(token)}`);
    expect(answer.status).toBe(303);
    expect(answer.cookie).toMatch(/^cm_session=/);
  });

  test.each<[string, From]>([
    ['another site', { origin: 'http://evil.example', site: 'cross-site' }],
    ['another site, as a browser without Sec-Fetch-Site says it', { origin: 'http://evil.example' }],
    ['the same host on another port', { origin: 'http://127.0.0.1:1', site: 'same-site' }],
    ['a sandboxed page of another site', { origin: 'null', site: 'cross-site' }],
  ])('a form from %s: 403, no cookie, a log line', async (_name, from) => {
    for (const path of ['/login', '/logout']) {
      const mark = m.logs.length;
      const answer = await post(path, from, `token=${encodeURIComponent(token)}`);
      expect(answer).toMatchObject({ status: 403, cookie: undefined, body: 'cross-site form refused\n' });
      expect(m.logs.slice(mark).some((l) => l.msg === 'cross-site form refused' && l.path === path)).toBe(true);
    }
  });
});
