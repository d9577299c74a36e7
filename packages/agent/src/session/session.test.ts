import { readFile } from 'node:fs/promises';
import { CloseCode, DEFAULTS, PROTOCOL_VERSION, type Specs } from '@cluster/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAgent, type AgentOptions } from '../agent.js';
import { createLogger } from '../logger.js';
import type { Probe, ProbeReport } from '../probe/index.js';
import { createFakeProbe } from '../probe/fake.js';
import { startFakeMaster, type FakeMaster } from '../test-support/fake-master.js';
import { captureLogs, type CapturedLogs, type LogEntry } from '../test-support/logs.js';

const TOKEN = 'tok_SECRET_a1b2c3d4e5f6g7h8';
const SPECS: Specs = { total_cpu: 64, total_memory: 503.5, total_storage: 7681.5, total_gpu: 8 };
const ERROR = 50;
const INFO_LEVEL = 30;

let logs: CapturedLogs;

beforeEach(() => {
  // Timers and Date are fake; the event loop's I/O (nextTick, setImmediate) stays real, so sockets work.
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  logs = captureLogs();
});

afterEach(() => {
  vi.useRealTimers();
  // Whatever happened in the test, the credential never reached a log line.
  expect(logs.text()).not.toContain(TOKEN);
  expect(logs.text()).not.toContain('tok_SECRET');
});

function agentFor(master: FakeMaster, overrides: Partial<AgentOptions> = {}) {
  return createAgent({
    masterUrl: `${master.url}${DEFAULTS.agentPath}`,
    workerId: 'gpu-01',
    token: TOKEN,
    agentVersion: '0.1.0-test',
    probe: createFakeProbe(SPECS),
    logger: createLogger({ level: 'trace', destination: logs.destination }),
    random: () => 0.5,
    now: () => Date.now(),
    reconnectBaseMs: 1_000,
    reconnectCapMs: 10_000,
    refusedRetryMs: 60_000,
    stableConnectionMs: 30_000,
    welcomeTimeoutMs: 5_000,
    ...overrides,
  });
}

/** Connects and completes hello/welcome; returns the master's side of the session. */
async function admitted(master: FakeMaster, intervalMs = 1_000, timeoutMs = 3_000) {
  const conn = await master.nextConnection();
  const hello = await conn.nextMessage();
  const from = logs.mark();
  conn.welcome(intervalMs, timeoutMs);
  await logs.waitFor('admitted', from);
  return { conn, hello };
}

/** Waits for the retry that ends a round (the first with a delay); `after` indexes past it. */
async function roundBackoff(from: number): Promise<{ entry: LogEntry; after: number }> {
  for (let at = from; ; ) {
    const entry = await logs.waitFor('retry', at);
    at = logs.entries.indexOf(entry) + 1;
    if (entry.delay_ms !== 0) return { entry, after: at };
  }
}

describe('session with a real WebSocket server', () => {
  it('is admitted at the upgrade, says hello with its specs, then beats at the interval the welcome gives', async () => {
    await using master = await startFakeMaster();
    await using agent = agentFor(master);
    await agent.start();

    const { conn, hello } = await admitted(master, 2_000, 6_000);
    expect(conn.req.headers['x-worker-id']).toBe('gpu-01');
    expect(conn.req.headers['x-protocol-version']).toBe(String(PROTOCOL_VERSION));
    expect(conn.req.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(conn.req.headers['sec-websocket-extensions']).toBeUndefined(); // perMessageDeflate is off
    expect(hello).toEqual({ type: 'hello', protocol_version: PROTOCOL_VERSION, worker_id: 'gpu-01', agent_version: '0.1.0-test', specs: SPECS });
    expect(logs.events('connected')).toHaveLength(1);
    expect(logs.events('admitted')[0]).toMatchObject({ heartbeat_interval_ms: 2_000, worker_id: 'gpu-01' });

    await vi.advanceTimersByTimeAsync(1_999);
    await conn.flush();
    expect(conn.received).toHaveLength(1); // hello only: no beat before the interval
    await vi.advanceTimersByTimeAsync(1);
    expect(await conn.nextMessage()).toEqual({ type: 'heartbeat', seq: 1 });
    conn.send({ type: 'ack', seq: 1 });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(await conn.nextMessage()).toEqual({ type: 'heartbeat', seq: 2 });
    expect(agent.state).toBe('open');
  });

  it('reconnects with a fresh hello after the master restarts, backing off while it is down', async () => {
    await using master = await startFakeMaster();
    await using agent = agentFor(master);
    await agent.start();
    await admitted(master);

    let from = logs.mark();
    await master.stop();
    expect((await logs.waitFor('disconnected', from)).code).toBe(1006);
    // While the master is down every try fails, and each waits longer: 0.5 × 1, 2, 4 s.
    for (const delay of [500, 1_000, 2_000]) {
      const retry = await logs.waitFor('retry', from);
      expect(retry.delay_ms).toBe(delay);
      from = logs.mark();
      await vi.advanceTimersByTimeAsync(delay);
      await logs.waitFor('connect-failed', from);
    }
    const retry = await logs.waitFor('retry', from);
    expect(retry.delay_ms).toBe(4_000);

    await master.resume();
    await vi.advanceTimersByTimeAsync(4_000);
    const { hello } = await admitted(master);
    expect(hello).toMatchObject({ type: 'hello', worker_id: 'gpu-01', specs: SPECS });
    expect(master.upgrades).toHaveLength(2);
  });

  it('starts the backoff over after a stable connection', async () => {
    await using master = await startFakeMaster();
    master.autoAck = true;
    await using agent = agentFor(master, { random: () => 1 - Number.EPSILON });
    await agent.start();
    const first = await admitted(master);
    // A connection that drops before it is stable counts as a failure ...
    let from = logs.mark();
    first.conn.ws.close(CloseCode.heartbeatTimeout, 'late');
    expect((await logs.waitFor('retry', from)).delay_ms).toBe(999);
    await vi.advanceTimersByTimeAsync(999);
    const second = await admitted(master);
    from = logs.mark();
    second.conn.ws.close(CloseCode.heartbeatTimeout, 'late');
    expect((await logs.waitFor('retry', from)).delay_ms).toBe(1_999);
    await vi.advanceTimersByTimeAsync(1_999);
    // ... and one that lived for the stable time resets it.
    const third = await admitted(master);
    for (let t = 0; t < 30; t++) {
      await vi.advanceTimersByTimeAsync(1_000);
      await third.conn.nextMessage();
    }
    from = logs.mark();
    third.conn.ws.close(CloseCode.heartbeatTimeout, 'late');
    expect((await logs.waitFor('retry', from)).delay_ms).toBe(999);
  });

  it('connects over wss:// trusting the CA file, and not to a master it cannot verify', async () => {
    const [key, cert] = await Promise.all(['localhost.key', 'localhost.crt'].map((f) => readFile(new URL(`../test-support/tls/${f}`, import.meta.url))));
    if (!key || !cert) throw new Error('test certificate missing');
    await using master = await startFakeMaster({ tls: { key, cert } });
    await using trusting = agentFor(master, { ca: cert });
    await trusting.start();
    await admitted(master);

    const from = logs.mark();
    await using doubting = agentFor(master);
    await doubting.start();
    expect(String((await logs.waitFor('connect-failed', from)).error)).toMatch(/self[- ]signed/i);
  });

  it('a token file it cannot use is an error with advice, retried slowly, and tried within a second once it holds a token', async () => {
    await using master = await startFakeMaster();
    let reads = 0;
    let fixed = false;
    const token = {
      where: 'the token file /etc/cluster-agent/token',
      rereads: true,
      read: () => {
        reads += 1;
        return fixed ? Promise.resolve(TOKEN) : Promise.reject(new Error('token file /etc/cluster-agent/token is empty'));
      },
    };
    await using agent = agentFor(master, { token });
    await agent.start();
    const unreadable = await logs.waitFor('token-unreadable');
    expect(unreadable).toMatchObject({ level: ERROR, error: 'token file /etc/cluster-agent/token is empty' });
    expect(String(unreadable.advice)).toContain("put worker gpu-01's token in the token file /etc/cluster-agent/token");
    expect(await logs.waitFor('retry')).toMatchObject({ delay_ms: 60_000, slow: true });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(master.upgrades).toHaveLength(0);
    // Read about once a second meanwhile, with one error line, not one per read.
    expect(reads).toBeGreaterThanOrEqual(5);
    expect(logs.events('token-unreadable')).toHaveLength(1);
    fixed = true;
    await vi.advanceTimersByTimeAsync(1_000);
    await admitted(master);
    expect(logs.events('token-changed')).toHaveLength(1);
  });

  describe('a token refused while the token file changes', () => {
    /** A token file as the agent sees it: `content` is what a read returns now. */
    function tokenFileHolding(first: string) {
      const file = { content: first, reads: 0 };
      const source = {
        where: 'the token file /etc/cluster-agent/token',
        rereads: true,
        read: () => {
          file.reads += 1;
          return Promise.resolve(file.content);
        },
      };
      return { file, source };
    }
    const NEW_TOKEN = 'tok_SECRET_rotated_0000000000';

    it('4401 with the new token already in the file: tries it at once, not a minute later', async () => {
      await using master = await startFakeMaster();
      const { file, source } = tokenFileHolding(TOKEN);
      await using agent = agentFor(master, { token: source });
      await agent.start();
      const { conn } = await admitted(master);
      // `worker token gpu-01 --token-file …` wrote the file, then the master closed the old session.
      file.content = NEW_TOKEN;
      const from = logs.mark();
      conn.ws.close(CloseCode.unauthorized, 'credential changed');
      const disconnected = await logs.waitFor('disconnected', from);
      expect(String(disconnected.advice)).toContain('checks that file every second while refused and tries again as soon as it changes');
      expect(String(disconnected.advice)).toMatch(/^the master no longer accepts this token \(a new one was issued for worker gpu-01, or its registration was replaced\): put the worker's current token in the token file/);
      expect(await logs.waitFor('retry', from)).toMatchObject({ delay_ms: 60_000, slow: true });
      expect(await logs.waitFor('token-changed', from)).toMatchObject({ msg: 'the token file /etc/cluster-agent/token holds a new token: trying it now' });
      const second = await admitted(master);
      expect(second.conn.req.headers.authorization).toBe(`Bearer ${NEW_TOKEN}`);
    });

    it('401 with the same token in the file: slow; a new token written 10 s later is tried within a second', async () => {
      await using master = await startFakeMaster();
      master.refuse = { status: 401, reason: 'invalid token' };
      const { file, source } = tokenFileHolding(TOKEN);
      await using agent = agentFor(master, { token: source });
      await agent.start();
      await logs.waitFor('refused');
      expect(await logs.waitFor('retry')).toMatchObject({ delay_ms: 60_000, slow: true });
      const from = logs.mark();
      await vi.advanceTimersByTimeAsync(10_000);
      // Read about once a second, always the refused token: no new attempt.
      expect(file.reads).toBeGreaterThanOrEqual(10);
      expect(file.reads).toBeLessThanOrEqual(13);
      expect(logs.events('connecting', from)).toHaveLength(0);
      expect(master.upgrades).toHaveLength(1);

      master.refuse = undefined;
      file.content = NEW_TOKEN;
      await vi.advanceTimersByTimeAsync(1_000);
      const again = await admitted(master);
      expect(again.conn.req.headers.authorization).toBe(`Bearer ${NEW_TOKEN}`);
      expect(logs.events('token-changed', from)).toHaveLength(1);
      // Admitted: nothing reads the file on a timer any more (2 s: within the master's silence limit).
      const reads = file.reads;
      await vi.advanceTimersByTimeAsync(2_000);
      expect(file.reads).toBe(reads);
    });

    it('an inline token (AGENT_TOKEN) cannot change: only the slow retry', async () => {
      await using master = await startFakeMaster();
      master.refuse = { status: 401, reason: 'invalid token' };
      await using agent = agentFor(master);
      await agent.start();
      await logs.waitFor('refused');
      expect(await logs.waitFor('retry')).toMatchObject({ delay_ms: 60_000, slow: true });
      const from = logs.mark();
      await vi.advanceTimersByTimeAsync(59_999);
      expect(logs.events('connecting', from)).toHaveLength(0);
      expect(logs.events('token-changed')).toHaveLength(0);
    });

    it('a refusal other than the token (404) does not watch the file', async () => {
      await using master = await startFakeMaster();
      master.refuse = { status: 404, reason: 'unknown worker' };
      const { file, source } = tokenFileHolding(TOKEN);
      await using agent = agentFor(master, { token: source });
      await agent.start();
      await logs.waitFor('retry');
      file.content = NEW_TOKEN;
      await vi.advanceTimersByTimeAsync(30_000);
      expect(file.reads).toBe(1);
      expect(master.upgrades).toHaveLength(1);
    });
  });

  describe('several masters', () => {
    it('with two of three masters down, is admitted through the third within one round, without waiting', async () => {
      const down1 = await startFakeMaster();
      const down2 = await startFakeMaster();
      await using up = await startFakeMaster();
      await down1.close();
      await down2.close();
      const urls = [down1, down2, up].map((m) => `${m.url}${DEFAULTS.agentPath}`);
      // random 0.99: the agent's own order is the list's (rounds.ts), so both closed ports come before the live one.
      await using agent = agentFor(up, { masterUrl: urls, random: () => 0.99 });
      await agent.start();
      await admitted(up);
      // Each failed try is a debug line; after the admission one warning names the masters that could not be reached.
      const failed = logs.events('connect-failed');
      expect(failed.map((e) => [e.url, e.level])).toEqual([[urls[0], 20], [urls[1], 20], [urls[2], 40]]);
      expect(failed[2]?.msg).toBe(`admitted by ${urls[2]} after ${urls[0]} (connection refused), ${urls[1]} (connection refused) could not be reached`);
      expect(logs.events('retry').map((e) => e.delay_ms)).toEqual([0, 0]);
      // Moving on to the next master of a round is not news: debug, not a `next retry in 0.0 s` at info.
      expect(logs.events('retry').map((e) => e.level)).toEqual([20, 20]);
    });

    it('on 4503 moves to another master at once, with jitter; on a plain loss to the next after the backoff', async () => {
      await using a = await startFakeMaster();
      await using b = await startFakeMaster();
      // 0.99: the agent's order is the list's (a, b); then the jitter draws.
      const draws = [0.99, 0.3, 0.6];
      await using agent = agentFor(a, { masterUrl: [a, b].map((m) => `${m.url}${DEFAULTS.agentPath}`), random: () => draws.shift() ?? 0.5 });
      await agent.start();
      const first = await admitted(a);
      let from = logs.mark();
      first.conn.ws.close(CloseCode.shuttingDown, 'master stopping');
      expect(await logs.waitFor('retry', from)).toMatchObject({ delay_ms: 300, url: `${b.url}${DEFAULTS.agentPath}` });
      await vi.advanceTimersByTimeAsync(300);
      const second = await admitted(b);
      from = logs.mark();
      second.conn.ws.close(CloseCode.heartbeatTimeout, 'late');
      expect(await logs.waitFor('retry', from)).toMatchObject({ delay_ms: 600, url: `${a.url}${DEFAULTS.agentPath}` });
      await vi.advanceTimersByTimeAsync(600);
      await admitted(a);
      expect(a.upgrades).toHaveLength(2);
      expect(b.upgrades).toHaveLength(1);
    });

    it('with every master down, backs off once per round of the list', async () => {
      const masters = await Promise.all([startFakeMaster(), startFakeMaster(), startFakeMaster()]);
      await Promise.all(masters.map((m) => m.close()));
      await using agent = agentFor(masters[0], { masterUrl: masters.map((m) => `${m.url}${DEFAULTS.agentPath}`) });
      let from = logs.mark();
      await agent.start();
      // random 0.5: rounds of three tries at once; between rounds 0.5 × 1, 2, 4 s.
      for (const delay of [500, 1_000, 2_000]) {
        const end = await roundBackoff(from);
        expect(end.entry.delay_ms).toBe(delay);
        expect(logs.events('connect-failed', from).map((e) => e.level)).toEqual([20, 20, 20]);
        expect(logs.events('retry', from).map((e) => e.delay_ms)).toEqual([0, 0, delay]);
        // At info and above, a round is one line: the masters it tried, why each failed, and its wait.
        // (The first round also has the start's lines: `probed`, `probe-warning`.)
        const said = logs.entries.slice(from, end.after).filter((e) => e.level >= 30 && !String(e.event).startsWith('probe'));
        expect(said).toEqual([end.entry]);
        expect(end.entry.level).toBe(40);
        const tried = end.entry.tried as { url: string; error: string }[];
        expect(tried.map((t) => t.url).sort()).toEqual(masters.map((m) => `${m.url}${DEFAULTS.agentPath}`).sort());
        expect(tried.every((t) => t.error === 'connection refused')).toBe(true);
        expect(end.entry.msg).toMatch(/^cannot connect to any of 3 masters \(ws:\/\/127\.0\.0\.1:\d+\/agent: connection refused; .*\); next round in \d\.\d s$/);
        from = end.after;
        await vi.advanceTimersByTimeAsync(delay);
      }
    });
  });

  describe('refusals and closes', () => {
    it.each([
      [401, 'invalid token', /^the master does not accept this token for worker gpu-01: put the worker's current token in the agent configuration and restart the agent \(if nobody has it, `cluster-master worker token gpu-01` on the master issues another\)$/],
      [403, 'source address does not match worker_ip', /^worker gpu-01 connects from an address other than its registered worker_ip \(this side of the connection: 127\.0\.0\.1\): run `cluster-master worker update gpu-01 --ip 127\.0\.0\.1` on the master/],
      [404, 'unknown worker', /^worker id gpu-01 is not registered on this master: run `cluster-master worker register gpu-01 127\.0\.0\.1`/],
      [401, 'unknown worker or invalid token', /^the master does not know worker gpu-01 or does not accept this token .*: if gpu-01 is not registered, run `cluster-master worker register gpu-01 127\.0\.0\.1`.*; if it is, put the worker's current token in .*`cluster-master worker token gpu-01` on the master issues another/],
    ] as const)('a %i refusal is an error that says what to do, retried about once a minute', async (status, body, advice) => {
      await using master = await startFakeMaster();
      master.refuse = { status, reason: body };
      await using agent = agentFor(master);
      await agent.start();

      const refused = await logs.waitFor('refused');
      expect(refused.level).toBe(ERROR);
      expect(refused.status).toBe(status);
      expect(refused.reason).toBe(body);
      expect(refused.advice).toMatch(advice);
      // The advice is said once: in its field, not again in msg (pino-pretty prints both).
      expect(refused.msg).toBe(`the master refused this agent (HTTP ${status}: ${body})`);
      expect(String(refused.advice)).not.toContain('<worker_id>');
      const retry = await logs.waitFor('retry');
      expect(retry).toMatchObject({ delay_ms: 60_000, slow: true });

      const from = logs.mark();
      await vi.advanceTimersByTimeAsync(59_999);
      expect(logs.events('connecting', from)).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(logs.events('connecting', from)).toHaveLength(1);
      await logs.waitFor('refused', from);
      expect(master.upgrades).toHaveLength(2);
    });

    it('a 426 refusal tells the admin to upgrade and retries slowly', async () => {
      await using master = await startFakeMaster();
      master.refuse = { status: 426, reason: 'protocol version 1 not supported' };
      await using agent = agentFor(master);
      await agent.start();
      expect((await logs.waitFor('refused')).advice).toBe('the agent and the master speak different protocol versions: upgrade the older one');
      expect(await logs.waitFor('retry')).toMatchObject({ delay_ms: 60_000, slow: true });
    });

    it('a 503 with Retry-After (a master loading its registry): waits the hint, spread over one more, and the backoff does not grow', async () => {
      await using master = await startFakeMaster();
      master.refuse = { status: 503, reason: 'registry not loaded yet', headers: { 'Retry-After': '2' } };
      await using agent = agentFor(master);
      await agent.start();
      // random 0.5: 2 s + 0.5 × 2 s, every time (a growing backoff would give 500, 1 000, 2 000 ms).
      for (let refusal = 1; refusal <= 3; refusal += 1) {
        const from = logs.mark();
        const refused = await logs.waitFor('refused', from);
        expect(refused).toMatchObject({ level: INFO_LEVEL, status: 503, retry_after_ms: 2_000 });
        expect(refused.advice).toBeUndefined();
        expect(await logs.waitFor('retry', from)).toMatchObject({ delay_ms: 3_000, slow: false });
        await vi.advanceTimersByTimeAsync(2_999);
        expect(master.upgrades).toHaveLength(refusal);
        await vi.advanceTimersByTimeAsync(1);
        await logs.waitFor('connecting', from);
      }
      // The hint did not grow the backoff: a plain 503 next is the first backoff step (0.5 × 1 s).
      const from = logs.mark();
      master.refuse = { status: 503, reason: 'registry unavailable' };
      await logs.waitFor('refused', from);
      expect(await logs.waitFor('retry', from)).toMatchObject({ delay_ms: 500, slow: false });
      master.refuse = undefined;
      await vi.advanceTimersByTimeAsync(500);
      await admitted(master);
    });

    it('an unexpected HTTP answer (a proxy without Upgrade) is retried with the normal backoff', async () => {
      await using master = await startFakeMaster();
      master.refuse = { status: 502, reason: 'bad gateway' };
      await using agent = agentFor(master);
      await agent.start();
      expect((await logs.waitFor('refused')).advice).toContain('forwards the Upgrade');
      expect(await logs.waitFor('retry')).toMatchObject({ delay_ms: 500, slow: false });
    });

    const WARN = 40;
    const INFO = 30;
    it.each([
      [CloseCode.unauthorized, 60_000, ERROR, /^the master no longer accepts this token .*worker token gpu-01/],
      [CloseCode.forbidden, 60_000, ERROR, /^worker gpu-01 connects from an address other than/],
      [CloseCode.unregistered, 60_000, ERROR, /^worker gpu-01 was unregistered: .*worker register gpu-01 127\.0\.0\.1/],
      [CloseCode.unsupportedVersion, 60_000, ERROR, /protocol versions/],
      [CloseCode.replaced, 500, WARN, undefined],
      [CloseCode.shuttingDown, 500, INFO, undefined],
      [CloseCode.heartbeatTimeout, 500, WARN, undefined],
    ] as const)('close %i from the master: next try in %i ms', async (code, delay, level, advice) => {
      await using master = await startFakeMaster();
      await using agent = agentFor(master);
      await agent.start();
      const { conn } = await admitted(master);
      conn.ws.close(code, 'test');
      const disconnected = await logs.waitFor('disconnected');
      expect(disconnected).toMatchObject({ code, reason: 'test', level });
      if (advice === undefined) expect(disconnected.advice).toBeUndefined();
      else expect(disconnected.advice).toMatch(advice);
      if (advice !== undefined) expect(disconnected.msg).toBe(`the master closed the session (${code} ${String(disconnected.code_name)}: test)`);
      expect(await logs.waitFor('retry')).toMatchObject({ delay_ms: delay, slow: advice !== undefined });

      const from = logs.mark();
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(logs.events('connecting', from)).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(1);
      await master.nextConnection();
    });

    it('closes with 4400 on a message it cannot read, then reconnects', async () => {
      await using master = await startFakeMaster();
      await using agent = agentFor(master);
      await agent.start();
      const { conn } = await admitted(master);
      conn.send('{"type":"reboot"}');
      expect(await conn.closed).toEqual({ code: CloseCode.badMessage, reason: 'invalid type' });
      expect((await logs.waitFor('bad-message')).level).toBe(ERROR);
      expect(await logs.waitFor('retry')).toMatchObject({ delay_ms: 500 });
      await vi.advanceTimersByTimeAsync(500);
      await admitted(master);
    });
  });

  describe('a dead master', () => {
    it('is noticed without TCP when acks and pongs stop, and the agent reconnects', async () => {
      await using master = await startFakeMaster({ autoPong: false });
      await using agent = agentFor(master);
      await agent.start();
      const { conn } = await admitted(master, 1_000, 3_000);

      // The socket stays open; the master just never answers. Limit: max(2 × 1 s, 3 s).
      await vi.advanceTimersByTimeAsync(2_999);
      expect(logs.events('master-silent')).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(logs.events('master-silent')).toHaveLength(1);
      expect((await conn.closed).code).toBe(1006);
      expect(await logs.waitFor('retry')).toMatchObject({ delay_ms: 500 });
      await vi.advanceTimersByTimeAsync(500);
      await admitted(master);
    });

    it('is not suspected while acks come', async () => {
      await using master = await startFakeMaster({ autoPong: false });
      master.autoAck = true;
      await using agent = agentFor(master);
      await agent.start();
      const { conn } = await admitted(master, 1_000, 3_000);
      for (let seq = 1; seq <= 20; seq++) {
        await vi.advanceTimersByTimeAsync(1_000);
        expect(await conn.nextMessage()).toEqual({ type: 'heartbeat', seq });
      }
      expect(logs.events('master-silent')).toHaveLength(0);
      expect(agent.state).toBe('open');
    });

    it.each(['ping', 'pong'] as const)('is alive while it sends %ss, even without acks', async (frame) => {
      await using master = await startFakeMaster({ autoPong: false });
      await using agent = agentFor(master);
      await agent.start();
      const { conn } = await admitted(master, 1_000, 3_000);
      for (let seq = 1; seq <= 10; seq++) {
        await vi.advanceTimersByTimeAsync(1_000);
        expect(await conn.nextMessage()).toEqual({ type: 'heartbeat', seq });
        conn.ws[frame]();
      }
      expect(logs.events('master-silent')).toHaveLength(0);
    });

    it('is given up on when it admits the upgrade but never welcomes', async () => {
      await using master = await startFakeMaster();
      await using agent = agentFor(master, { welcomeTimeoutMs: 4_000 });
      await agent.start();
      const conn = await master.nextConnection();
      await conn.nextMessage(); // hello, never answered
      await vi.advanceTimersByTimeAsync(3_999);
      expect(logs.events('no-welcome')).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(1);
      await logs.waitFor('no-welcome');
      await conn.closed;
      expect(await logs.waitFor('retry')).toMatchObject({ delay_ms: 500 });
    });

    it('keeps a welcome that was already in its socket buffer when the welcome timeout fired (a late event loop)', async () => {
      await using master = await startFakeMaster();
      await using agent = agentFor(master, { welcomeTimeoutMs: 4_000 });
      await agent.start();
      const conn = await master.nextConnection();
      await conn.nextMessage(); // hello
      // From a check-phase callback, so that the next read of the sockets (the poll phase) comes
      // before the next check phase: the order an event loop running late meets them in.
      await new Promise<void>((resolve) => setImmediate(resolve));
      // The welcome reaches the agent's socket buffer (loopback), then, before the agent reads
      // it, its timer is due: Node runs due timers before it reads sockets.
      conn.welcome(1_000, 3_000);
      vi.advanceTimersByTime(4_000);
      expect(logs.events('no-welcome')).toHaveLength(0);
      await logs.waitFor('admitted');
      expect(logs.events('no-welcome')).toHaveLength(0);
      // Still the same connection: it beats on it, and the master saw no close.
      await vi.advanceTimersByTimeAsync(1_000);
      expect(await conn.nextMessage()).toEqual({ type: 'heartbeat', seq: 1 });
      expect(master.upgrades).toHaveLength(1);
    });
  });

  describe('shutdown', () => {
    it('sends a clean close (1000) and does not reconnect; close() is idempotent', async () => {
      await using master = await startFakeMaster();
      const agent = agentFor(master);
      await agent.start();
      const { conn } = await admitted(master);

      const closing = agent.close();
      expect(agent.close()).toBe(closing);
      expect(await conn.closed).toEqual({ code: 1000, reason: 'agent shutting down' });
      await closing;
      expect(agent.state).toBe('closed');
      await agent[Symbol.asyncDispose]();

      const from = logs.mark();
      await vi.advanceTimersByTimeAsync(120_000);
      expect(logs.events('connecting', from)).toHaveLength(0);
      expect(master.upgrades).toHaveLength(1);
    });

    it('while waiting to retry, stops the retry', async () => {
      await using master = await startFakeMaster();
      master.refuse = { status: 404, reason: 'unknown worker' };
      const agent = agentFor(master);
      await agent.start();
      await logs.waitFor('retry');
      await agent.close();
      await vi.advanceTimersByTimeAsync(300_000);
      expect(master.upgrades).toHaveLength(1);
    });

    it('drops the socket if the master does not answer the close in time', async () => {
      await using master = await startFakeMaster();
      const agent = agentFor(master, { closeTimeoutMs: 1_000 });
      await agent.start();
      const { conn } = await admitted(master);
      // A master that stopped reading: its socket takes no more frames.
      conn.ws.pause();
      const closing = agent.close();
      await vi.advanceTimersByTimeAsync(1_000);
      await closing;
      expect(agent.state).toBe('closed');
    });
  });

  describe('specs', () => {
    function probeSequence(...list: Specs[]): Probe & { calls: number } {
      const probe = Object.assign(
        async (): Promise<ProbeReport> => {
          const specs = list[Math.min(probe.calls, list.length - 1)] ?? SPECS;
          probe.calls += 1;
          return createFakeProbe(specs)();
        },
        { calls: 0 },
      );
      return probe;
    }

    it('are re-sent when a re-probe finds them changed, and only then', async () => {
      const more: Specs = { ...SPECS, total_gpu: 7, total_storage: 7000 };
      await using master = await startFakeMaster();
      const probe = probeSequence(SPECS, SPECS, more, more);
      await using agent = agentFor(master, { probe, reprobeIntervalMs: 60_000 });
      await agent.start();
      const { conn } = await admitted(master, 10_000, 30_000);
      master.autoAck = true;

      await vi.advanceTimersByTimeAsync(60_000); // same specs: nothing sent but beats
      expect(probe.calls).toBe(2);
      await conn.flush();
      expect(conn.received.filter((m) => (m as { type: string }).type === 'specs')).toHaveLength(0);

      await vi.advanceTimersByTimeAsync(60_000);
      expect(probe.calls).toBe(3);
      expect(await logs.waitFor('specs-changed')).toMatchObject({ from: SPECS, to: more });
      await conn.flush();
      expect(conn.received.filter((m) => (m as { type: string }).type === 'specs')).toEqual([{ type: 'specs', specs: more }]);

      await vi.advanceTimersByTimeAsync(60_000);
      expect(probe.calls).toBe(4);
      await conn.flush();
      expect(conn.received.filter((m) => (m as { type: string }).type === 'specs')).toHaveLength(1);
      expect(agent.specs).toEqual(more);

      // The next session's hello carries them.
      const from = logs.mark();
      conn.ws.close(CloseCode.shuttingDown, 'restart');
      await logs.waitFor('retry', from);
      await vi.advanceTimersByTimeAsync(500);
      expect((await admitted(master)).hello).toMatchObject({ specs: more });
    });

    it('changed between the hello and the welcome follow the welcome', async () => {
      const more: Specs = { ...SPECS, total_cpu: 128 };
      await using master = await startFakeMaster();
      await using agent = agentFor(master, { probe: probeSequence(SPECS, more), reprobeIntervalMs: 1_000 });
      await agent.start();
      const conn = await master.nextConnection();
      expect(await conn.nextMessage()).toMatchObject({ type: 'hello', specs: SPECS });
      await vi.advanceTimersByTimeAsync(1_000);
      await logs.waitFor('specs-pending');
      conn.welcome(10_000, 30_000);
      expect(await conn.nextMessage()).toEqual({ type: 'specs', specs: more });
    });

    it('changed while disconnected go out in the next hello', async () => {
      const more: Specs = { ...SPECS, total_memory: 1007.5 };
      await using master = await startFakeMaster();
      master.refuse = { status: 404, reason: 'unknown worker' };
      await using agent = agentFor(master, { probe: probeSequence(SPECS, more), reprobeIntervalMs: 30_000 });
      await agent.start();
      await logs.waitFor('retry');
      await vi.advanceTimersByTimeAsync(30_000);
      await logs.waitFor('specs-pending');
      master.refuse = undefined;
      await vi.advanceTimersByTimeAsync(30_000);
      expect((await admitted(master)).hello).toMatchObject({ specs: more });
    });
  });
});
