import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createAdminTokenStore, type AdminTokenStore } from '../../packages/master/src/registry/admin-token-store.js';
import { UNAUTHORIZED_BODY } from '../../packages/master/src/server/http/admin-auth.js';
import { openHarness, waitFor, type Harness, type RunningMaster } from './helpers/harness.js';
import { RawAgent } from './helpers/raw-agent.js';

/** The admin API over real HTTP: a real master on port 0 and the dev database. */
let h: Harness;
let m: RunningMaster;
let admin: AdminTokenStore;
let good: string;

// Ids and addresses at the edges of what `worker register` accepts.
const LONG_ID = `a${'-._'.repeat(21)}`;
const HOSTILE = [
  { id: LONG_ID, ip: 'fe80::1' },
  { id: '0.-_', ip: 'xn--80ak6aa92e.example' },
  { id: 'h-ipv4', ip: '10.0.0.7' },
];

beforeAll(async () => {
  h = await openHarness();
  admin = createAdminTokenStore(h.db);
  good = (await admin.issue()).token;
  m = await h.startMaster();
});
afterAll(async () => {
  await h.close();
});

const get = (path: string, token?: string): Promise<Response> =>
  fetch(`${m.http}${path}`, token === undefined ? {} : { headers: { Authorization: `Bearer ${token}` } });

describe('admin credential', () => {
  test.each([
    ['no credential', undefined, 'no credential'],
    ['a wrong token', 'A'.repeat(43), 'wrong or revoked credential'],
    ['a malformed token', 'not a token!', 'malformed credential'],
    ['a token of the wrong shape', 'x'.repeat(300), 'wrong or revoked credential'],
  ])('%s: 401, the same body, and a log line', async (_name, token, reason) => {
    for (const path of ['/api/workers', '/api/sd?port=9100']) {
      const mark = m.logs.length;
      const res = await get(path, token);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="cluster-master"');
      expect(await res.text()).toBe(UNAUTHORIZED_BODY);
      const line = m.logs.slice(mark).find((l) => l.msg === 'admin request refused');
      expect(line).toMatchObject({ reason, path: path.split('?')[0], address: '127.0.0.1' });
      expect(JSON.stringify(m.logs.slice(mark))).not.toContain('AAAAAAAA');
    }
  });

  test('a revoked token is refused like a wrong one; a live one opens the API', async () => {
    const issued = await admin.issue();
    expect((await get('/api/workers', issued.token)).status).toBe(200);
    expect(await admin.revoke(issued.token_id)).toBe(true);
    const res = await get('/api/workers', issued.token);
    expect(res.status).toBe(401);
    expect(await res.text()).toBe(UNAUTHORIZED_BODY);
    expect(await admin.revoke(issued.token_id)).toBe(false);
    expect((await get('/api/workers', good)).status).toBe(200);
  });

  test('a flood of wrong tokens: at most 20 refusal lines a second, the rest counted in one line', async () => {
    await new Promise((r) => setTimeout(r, 1_100));
    const mark = m.logs.length;
    const statuses = await Promise.all(Array.from({ length: 100 }, () => get('/api/workers', 'C'.repeat(43)).then((r) => r.status)));
    expect(new Set(statuses)).toEqual(new Set([401]));
    await waitFor('the summary line', () => m.logs.slice(mark).some((l) => l.msg === 'admin requests refused: lines left out'), { timeoutMs: 3_000 });
    const lines = m.logs.slice(mark);
    const refused = lines.filter((l) => l.msg === 'admin request refused').length;
    const leftOut = lines.filter((l) => l.msg === 'admin requests refused: lines left out').reduce((n, l) => n + Number(l.count), 0);
    expect(refused).toBeLessThanOrEqual(40);
    expect(refused + leftOut).toBe(100);
  });

  test('only the hash is stored; other methods 405; /healthz stays open', async () => {
    const docs = await h.db.collection('ADMIN_TOKENS').find({}).toArray();
    expect(JSON.stringify(docs)).not.toContain(good);
    expect((await fetch(`${m.http}/api/workers`, { method: 'POST', headers: { Authorization: `Bearer ${good}` } })).status).toBe(405);
    expect((await get('/healthz')).status).toBe(200);
  });
});

describe('GET /api/workers and /api/sd', () => {
  let agent: RawAgent;
  beforeAll(async () => {
    for (const w of HOSTILE) await h.register(w.id, w.ip);
    const token = await h.register('gpu-1', '192.168.5.5');
    agent = await RawAgent.admitted(m.url, { workerId: 'gpu-1', token }, { total_cpu: 16, total_memory: 64, total_storage: 500, total_gpu: 2 });
    await agent.heartbeat();
    // Beating on: with the harness's 1 s timeout, one beat left gpu-1 active only for the first second of the tests.
    agent.startBeating(200);
    await waitFor('gpu-1 active with its specs', async () => {
      const w = await h.worker('gpu-1');
      return w?.is_active === true && w.total_gpu === 2;
    });
  });
  afterAll(async () => {
    await agent.close();
  });

  test('the fields of `worker list --json`, sorted by id; filters as its flags', async () => {
    const all = (await (await get('/api/workers', good)).json()) as Record<string, unknown>[];
    expect(all.map((w) => w.worker_id)).toEqual([HOSTILE[1]?.id, LONG_ID, 'gpu-1', 'h-ipv4'].sort());
    expect(Object.keys(all[0] ?? {})).toEqual([
      'worker_id', 'worker_ip', 'total_cpu', 'total_memory', 'total_storage', 'total_gpu', 'is_active', 'last_heartbeat', 'registered_at', 'updated_at',
    ]);
    const ids = async (query: string): Promise<unknown[]> =>
      ((await (await get(`/api/workers?${query}`, good)).json()) as { worker_id: string }[]).map((w) => w.worker_id);
    expect(await ids('active')).toEqual(['gpu-1']);
    expect(await ids('gpu=true')).toEqual(['gpu-1']);
    expect(await ids('inactive')).toHaveLength(3);
    expect(await ids('ip=fe80::1')).toEqual([LONG_ID]);
    expect(await ids('min-cpu=8&min-memory=32')).toEqual(['gpu-1']);
    expect(await ids('stale=3600')).toEqual([]);
  });

  test('bad filters: 400 with the reason, nothing else', async () => {
    for (const query of ['active&inactive', 'min-cpu=abc', 'stale=1.5', 'colour=red', 'stale=5&inactive', 'ip=a&ip=b']) {
      const res = await get(`/api/workers?${query}`, good);
      expect(res.status, query).toBe(400);
      expect(await res.text()).not.toContain('gpu-1');
    }
  });

  test('an unknown parameter is named in the 400, with the known ones', async () => {
    const workers = await get('/api/workers?active&bogus=1', good);
    expect(workers.status).toBe(400);
    expect(await workers.text()).toMatch(/^unknown parameter "bogus"; known: active, inactive, [^\n]*\n$/);
    const sd = await get('/api/sd?port=9100&other=1', good);
    expect(sd.status).toBe(400);
    expect(await sd.text()).toBe('unknown parameter "other"; known: port\n');
  });

  test('ids and addresses come back as JSON strings, never markup', async () => {
    const res = await get('/api/workers', good);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const body = await res.text();
    expect(body).not.toMatch(/[<>&]/);
    const parsed = JSON.parse(body) as { worker_id: string; worker_ip: string }[];
    for (const w of HOSTILE) expect(parsed).toContainEqual(expect.objectContaining({ worker_id: w.id, worker_ip: w.ip }));
  });

  test('/api/sd: one target per active worker with its labels; port checked', async () => {
    const res = await get('/api/sd?port=9100', good);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([
      {
        targets: ['192.168.5.5:9100'],
        labels: { worker_id: 'gpu-1', worker_ip: '192.168.5.5', cpus: '16', memory_gib: '64', storage_gb: '500', gpus: '2' },
      },
    ]);
    expect(((await (await get('/api/sd', good)).json()) as { targets: string[] }[])[0]?.targets).toEqual(['192.168.5.5:9100']);
    expect(((await (await get('/api/sd?port=9400', good)).json()) as { targets: string[] }[])[0]?.targets).toEqual(['192.168.5.5:9400']);
    for (const query of ['port=0', 'port=65536', 'port=abc', 'port=9100&port=9101', 'other=1']) {
      expect((await get(`/api/sd?${query}`, good)).status, query).toBe(400);
    }
  });
});

describe('GET /api/sd with an IPv6 worker', () => {
  test('an active worker registered with an IPv6 address is the target [addr]:port, its label the bare address', async () => {
    const token = await h.register('gpu-v6', 'fd00::7');
    const agent = await RawAgent.admitted(m.url, { workerId: 'gpu-v6', token });
    try {
      await agent.heartbeat();
      await waitFor('gpu-v6 active', async () => (await h.worker('gpu-v6'))?.is_active === true);
      const groups = (await (await get('/api/sd?port=9100', good)).json()) as { targets: string[]; labels: Record<string, string> }[];
      expect(groups.find((g) => g.labels.worker_id === 'gpu-v6')).toMatchObject({
        targets: ['[fd00::7]:9100'],
        labels: { worker_id: 'gpu-v6', worker_ip: 'fd00::7' },
      });
    } finally {
      await agent.close();
    }
  });
});
