import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Agent, AgentOptions } from './agent.js';
import { runCli, SHUTDOWN_DEADLINE_MS, type CliDeps, type Signal } from './cli.js';
import { HEAP_TRIM_DEFAULTS } from './heap-trim.js';
import { createFakeProbe } from './probe/fake.js';
import { captureLogs, type CapturedLogs } from './test-support/logs.js';

const TOKEN = 'tok_cli_0123456789abcdefgh';
const SPECS = { total_cpu: 4, total_memory: 15.5, total_storage: 256, total_gpu: 0 };

interface Harness {
  deps: CliDeps;
  stdout: string[];
  stderr: string[];
  exits: number[];
  signals: Map<Signal, () => void>;
  created: AgentOptions[];
  agent: Agent & { closeCalls: number; finishClose: () => void };
  logs: CapturedLogs;
}

function harness(argv: string[], env: Record<string, string> = {}, closeHangs = false): Harness {
  const h: Partial<Harness> = { stdout: [], stderr: [], exits: [], signals: new Map(), created: [], logs: captureLogs() };
  let finishClose: () => void = () => {};
  let closing: Promise<void> | undefined;
  const agent = {
    closeCalls: 0,
    finishClose: () => finishClose(),
    start: () => Promise.resolve(),
    close() {
      agent.closeCalls += 1;
      closing ??= new Promise<void>((resolve) => {
        finishClose = resolve;
        if (!closeHangs) resolve();
      });
      return closing;
    },
    state: 'open' as const,
    specs: SPECS,
    [Symbol.asyncDispose]: () => agent.close(),
  };
  h.agent = agent;
  h.deps = {
    argv,
    env: { AGENT_MASTER_URL: 'ws://127.0.0.1:9', AGENT_TOKEN: TOKEN, ...env },
    stdout: { write: (t: string) => h.stdout?.push(t), isTTY: false },
    stderr: { write: (t: string) => h.stderr?.push(t) },
    hostname: () => 'node-1',
    readFile: () => Promise.reject(Object.assign(new Error('nope'), { code: 'ENOENT' })),
    onSignal: (signal, handler) => h.signals?.set(signal, handler),
    exit: (code) => h.exits?.push(code),
    version: '0.1.0',
    createAgent: (options) => {
      h.created?.push(options);
      return agent;
    },
    createProbe: () => createFakeProbe(SPECS),
    logDestination: h.logs?.destination,
  };
  return h as Harness;
}

describe('cluster-agent command line', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('exits 2 with one line on stderr on bad config, before any connection is tried', async () => {
    const h = harness(['run'], { AGENT_MASTER_URL: 'http://wrong' });
    await runCli(h.deps);
    expect(h.exits).toEqual([2]);
    expect(h.stderr).toEqual(['cluster-agent: error [USAGE]: AGENT_MASTER_URL must start with ws:// or wss://, not http:// (see --help)\n']);
    expect(h.created).toHaveLength(0);
  });

  it('an unreadable token file is bad config too', async () => {
    const h = harness(['run'], { AGENT_TOKEN: '', AGENT_TOKEN_FILE: '/etc/agent/token' });
    await runCli(h.deps);
    expect(h.exits).toEqual([2]);
    expect(h.stderr.join('')).toBe('cluster-agent: error [USAGE]: cannot read token file /etc/agent/token (AGENT_TOKEN_FILE): ENOENT (see --help)\n');
    expect(h.created).toHaveLength(0);
  });

  it('SIGTERM closes the session cleanly and exits 0', async () => {
    const h = harness(['run']);
    await runCli(h.deps);
    expect(h.created).toHaveLength(1);
    h.signals.get('SIGTERM')?.();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.agent.closeCalls).toBe(1);
    expect(h.exits).toEqual([0]);
    expect(h.logs.events('stopped')).toHaveLength(1);
  });

  it('run keeps the old generation trimmed while it runs, and stops on SIGTERM', async () => {
    const h = harness(['run']);
    const heap = { used: 8_000_000, collections: 0, oldGenerationUsedBytes: () => heap.used, collect: () => void (heap.collections += 1, (heap.used = 8_000_000)) };
    h.deps.heap = heap;
    await runCli(h.deps);
    heap.used = 9_000_000;
    await vi.advanceTimersByTimeAsync(HEAP_TRIM_DEFAULTS.everyMs);
    expect(heap.collections).toBe(1);
    h.signals.get('SIGTERM')?.();
    heap.used = 10_000_000;
    await vi.advanceTimersByTimeAsync(HEAP_TRIM_DEFAULTS.everyMs * 3);
    expect(heap.collections).toBe(1);
    expect(h.exits).toEqual([0]);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('a second %s exits at once with %i', async (signal, code) => {
    const h = harness(['run'], {}, true);
    await runCli(h.deps);
    h.signals.get(signal)?.();
    await vi.advanceTimersByTimeAsync(10);
    expect(h.exits).toEqual([]);
    h.signals.get(signal)?.();
    expect(h.exits).toEqual([code]);
  });

  it('exits 0 within 2 s even if the master never answers the close', async () => {
    const h = harness(['run'], {}, true);
    await runCli(h.deps);
    h.signals.get('SIGINT')?.();
    await vi.advanceTimersByTimeAsync(SHUTDOWN_DEADLINE_MS - 1);
    expect(h.exits).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.exits).toEqual([0]);
    expect(SHUTDOWN_DEADLINE_MS).toBeLessThan(2_000);
  });

  it('passes the config to the agent and never logs the token', async () => {
    const h = harness(['run', '--worker-id', 'w-9', '--log-level', 'trace']);
    await runCli(h.deps);
    expect(h.created[0]).toMatchObject({ masterUrl: ['ws://127.0.0.1:9/agent'], workerId: 'w-9', token: { where: 'AGENT_TOKEN', rereads: false }, agentVersion: '0.1.0' });
    const token = h.created[0]?.token;
    expect(typeof token === 'string' ? token : token?.read()).toBe(TOKEN);
    expect(h.logs.events('starting')[0]).toMatchObject({ worker_id: 'w-9', master_url: 'ws://127.0.0.1:9/agent' });
    expect(h.logs.text()).not.toContain(TOKEN);
  });

  it('warns loudly when specs are fake', async () => {
    const h = harness(['run'], { AGENT_FAKE_SPECS: JSON.stringify(SPECS) });
    await runCli(h.deps);
    expect(h.logs.events('fake-specs')).toHaveLength(1);
    expect(await h.created[0]?.probe()).toMatchObject({ specs: SPECS });
  });

  it('probe prints JSON for scripts and text for people', async () => {
    const json = harness(['probe', '--json']);
    await runCli(json.deps);
    expect(JSON.parse(json.stdout.join(''))).toMatchObject({ specs: SPECS });
    expect(json.exits).toEqual([0]);

    const text = harness(['probe']);
    await runCli(text.deps);
    expect(text.stdout.join('')).toMatch(/^total_cpu +4 logical cores/m);
    expect(text.stdout.join('')).toMatch(/^total_memory +15.5 GiB/m);
  });
});
