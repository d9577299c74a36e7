import { spawn } from 'node:child_process';
import { connect, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { MAIN, ROOT, cleanEnv, runCli } from './run-cli.js';
import { Spawned } from './spawned.js';

/** `cluster-master serve` as a spawned process: a port in use, and its log in a terminal and through a pipe. */
let t: TestDatabase;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  t = await openTestDatabase('cli_serve');
  env = cleanEnv({ MONGODB_URI: t.uri, MONGODB_DATABASE: t.name, LOG_LEVEL: 'info' });
});
afterAll(async () => {
  await t.close();
});

// eslint-disable-next-line no-control-regex -- the colours pino-pretty writes to a terminal
const plain = (text: string): string => text.replace(/\x1b\[[0-9;]*m/g, '').replace(/\r/g, '');

describe('cluster-master serve', () => {
  test('a port in use: one line naming host:port and --port, code PORT_IN_USE, exit 1, no stack trace', async () => {
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as { port: number };
    try {
      const run = await runCli(['serve', '--host', '127.0.0.1', '--port', String(port)], { MONGODB_URI: t.uri, MONGODB_DATABASE: t.name, LOG_LEVEL: 'warn' });
      expect(run.stderr).toBe(
        `cluster-master: error [PORT_IN_USE]: 127.0.0.1:${port} is in use by another program (another master?): stop that program, or choose another port with --port (MASTER_PORT)\n`,
      );
      expect(run.code).toBe(1);
      expect(run.stdout).not.toMatch(/\n\s+at /);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  test('an address not on this machine: ADDRESS_NOT_AVAILABLE naming it and --host, and the log says why the master stopped', async () => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never a machine's own address.
    const run = await runCli(['serve', '--host', '192.0.2.1', '--port', '40999'], { MONGODB_URI: t.uri, MONGODB_DATABASE: t.name, LOG_LEVEL: 'info' });
    expect(run.stderr).toBe(
      'cluster-master: error [ADDRESS_NOT_AVAILABLE]: 192.0.2.1:40999: no network interface of this machine has the address 192.0.2.1: ' +
        'choose one it has (ip -brief address), or 0.0.0.0 for all of them, with --host (MASTER_HOST)\n',
    );
    expect(run.code).toBe(1);
    const lines = run.stdout.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((l) => l.msg)).toEqual(['starting', 'stopped: could not listen', 'closed']);
    expect(lines[1]).toMatchObject({ level: 50, code: 'ADDRESS_NOT_AVAILABLE' });
  });

  test('in a pseudo-terminal the log is readable lines, not JSON; Ctrl-C exits 0 with its last line shown', async () => {
    // `exec` and SHELL=/bin/sh: see worker-watch.test.ts (a shell waiting in between would take the Ctrl-C's 130).
    const command = `exec ${process.execPath} ${MAIN} serve --host 127.0.0.1 --port 0`;
    const p = new Spawned(spawn('script', ['-qefc', command, '/dev/null'], { cwd: ROOT, env: { ...env, SHELL: '/bin/sh' } }));
    onTestFinished(() => {
      // script, killed, hangs up its terminal: the master gets SIGHUP and ends too.
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
    });
    await p.waitFor('the listening line and its port', (out) => /listening[\s\S]*port: \d+/.test(plain(out)));
    const text = plain(p.out);
    // pino-pretty's form: time, level, name/pid, message; the fields below it, one per line.
    const listening = text.match(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(cluster-master\/(\d+)\): listening$/m);
    expect(listening, text).not.toBeNull();
    const port = Number(text.match(/^ {4}port: (\d+)$/m)?.[1]);
    // The master that wrote these lines is the one that answers on that port.
    const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { pid: number };
    expect(String(health.pid)).toBe(listening?.[1]);
    expect(text.split('\n').filter((line) => line.trimStart().startsWith('{'))).toEqual([]);
    p.child.stdin.write('\x03');
    expect(await p.exited).toBe(0);
    expect(plain(p.out)).toMatch(/INFO \(cluster-master\/\d+\): closed$/m);
  });

  test('through a pipe the log is JSON lines; SIGTERM exits 0', async () => {
    const p = new Spawned(spawn(process.execPath, [MAIN, 'serve', '--host', '127.0.0.1', '--port', '0'], { cwd: ROOT, env }));
    await p.waitFor('the listening line', (out) => out.includes('"msg":"listening"'));
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    const lines = p.out.split('\n').filter((line) => line !== '');
    const parsed = lines.map((line) => JSON.parse(line) as { name: string; msg: string });
    expect(parsed.map((l) => l.name)).toEqual(lines.map(() => 'cluster-master'));
    expect(parsed.map((l) => l.msg)).toEqual(expect.arrayContaining(['starting', 'listening', 'shutting down', 'closed']));
  });

  test('the port accepts before the master is loaded: a request made then is answered once it is, no connection refused after the bind', async () => {
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as { port: number };
    await new Promise((resolve) => holder.close(resolve));
    const p = new Spawned(spawn(process.execPath, [MAIN, 'serve', '--host', '127.0.0.1', '--port', String(port)], { cwd: ROOT, env }));
    onTestFinished(() => {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
    });
    // Tries every 5 ms from the spawn (refused until node has started) until one connects; it asks for /healthz at once.
    const answer = await new Promise<string>((resolve, reject) => {
      const deadline = performance.now() + 15_000;
      const attempt = (): void => {
        const socket = connect(port, '127.0.0.1');
        let text = '';
        socket.once('connect', () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
        socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        socket.once('end', () => resolve(text));
        socket.once('error', (error) => {
          if (performance.now() > deadline) reject(error);
          else setTimeout(attempt, 5);
        });
      };
      attempt();
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    await p.waitFor('the listening line', (out) => out.includes('"msg":"listening"'));
    const listening = p.out.split('\n').map((line) => (line.startsWith('{') ? (JSON.parse(line) as Record<string, unknown>) : {})).find((l) => l.msg === 'listening');
    // The first connection waited on the early socket while the master loaded (a second or so), then was served.
    expect(listening).toMatchObject({ port, bound_early: true, queued_connections: 1 });
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });
});
