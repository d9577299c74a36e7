import { connect, createServer, type Socket } from 'node:net';
import { PROTOCOL_VERSION } from '@cluster/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { hashToken } from '../registry/token.js';
import { EarlyListener } from './early-listener.js';
import { createMaster, type Master } from './master.js';
import { FakeRegistry, ManualClock, captureLogger } from './test-support/fakes.js';

/**
 * The socket serve binds before the master is loaded (main.ts): connections
 * made then wait, unread, and are answered by the master once it takes the
 * socket over. Real sockets on port 0; the master over a fake registry (the
 * spawned serve of test/cli/serve-cli.test.ts runs it on the dev database).
 */
const TOKEN = 'unit-test-token-0123456789abcdef';
let master: Master | undefined;
let early: EarlyListener | undefined;
afterEach(async () => {
  await master?.close();
  await early?.close();
  master = undefined;
  early = undefined;
});

function newMaster(registry: FakeRegistry, listener: EarlyListener | undefined, port = 0): Master {
  const { logger } = captureLogger();
  return createMaster({
    registry,
    credentials: registry,
    logger,
    clock: new ManualClock(),
    earlyListener: listener,
    options: { host: '127.0.0.1', port, checkSourceAddress: false, retryBaseMs: 50, retryCapMs: 100 },
  });
}

/** A raw HTTP request on a socket of its own; resolves with the whole answer once the server ends it. */
function rawRequest(port: number, path: string): { sent: Promise<Socket>; answer: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  const sent = new Promise<Socket>((resolve, reject) => {
    socket.once('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      resolve(socket);
    });
    socket.once('error', reject);
  });
  const answer = new Promise<string>((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    socket.once('end', () => resolve(text));
    socket.once('error', reject);
  });
  return { sent, answer };
}

describe('EarlyListener', () => {
  test('a connection made before the master exists is answered by it once it takes the socket over', async () => {
    early = await EarlyListener.bind({ host: '127.0.0.1', port: 0 });
    const port = early.address()?.port ?? 0;
    const { sent, answer } = rawRequest(port, '/healthz');
    await sent;
    await expect.poll(() => early?.queued).toBe(1);
    let answered = false;
    void answer.then(() => (answered = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(answered).toBe(false); // waiting, unread: no master to answer yet

    master = newMaster(new FakeRegistry(), early);
    expect(await master.start()).toEqual({ port });
    expect(master.address()?.port).toBe(port);
    expect(await answer).toMatch(/^HTTP\/1\.1 200 /);
    // Later connections go to the master at once.
    expect(await rawRequest(port, '/healthz').answer).toMatch(/^HTTP\/1\.1 200 /);
  });

  test('an agent that connected while the master loaded is admitted (welcome) once the registry is loaded', async () => {
    const registry = new FakeRegistry();
    registry.add('w1', '127.0.0.1', hashToken(TOKEN));
    early = await EarlyListener.bind({ host: '127.0.0.1', port: 0 });
    const port = early.address()?.port ?? 0;
    // The agent's own retry on a 503 is the agent's business; this one asks once the master is loaded.
    const ws = new WebSocket(`ws://127.0.0.1:${port}/agent`, {
      headers: { 'x-protocol-version': String(PROTOCOL_VERSION), 'x-worker-id': 'w1', authorization: `Bearer ${TOKEN}` },
    });
    const outcome = new Promise<string>((resolve) => {
      ws.once('open', () => resolve('open'));
      ws.once('unexpected-response', (_req, res) => resolve(`http ${res.statusCode ?? 0}`));
      ws.once('error', (error) => resolve(`error ${error.message}`));
    });
    await expect.poll(() => early?.queued).toBe(1);
    master = newMaster(registry, early);
    await master.start();
    // Before the view loads the queued upgrade is answered as any other then: 503, or admitted once loaded.
    const got = await outcome;
    expect(['open', 'http 503']).toContain(got);
    ws.terminate();
  });

  test('close() of the master closes the early socket: the port refuses afterwards', async () => {
    early = await EarlyListener.bind({ host: '127.0.0.1', port: 0 });
    const port = early.address()?.port ?? 0;
    master = newMaster(new FakeRegistry(), early);
    await master.start();
    await master.close();
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  test('a master configured for another port closes the early socket and listens itself', async () => {
    early = await EarlyListener.bind({ host: '127.0.0.1', port: 0 });
    const earlyPort = early.address()?.port ?? 0;
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const free = (holder.address() as { port: number }).port;
    await new Promise((resolve) => holder.close(resolve));
    master = newMaster(new FakeRegistry(), early, free);
    expect(await master.start()).toEqual({ port: free });
    expect(early.address()).toBeUndefined();
    expect(earlyPort).not.toBe(free);
    expect(await rawRequest(free, '/healthz').answer).toMatch(/^HTTP\/1\.1 200 /);
  });

  test('a master closed before it started releases the early socket', async () => {
    early = await EarlyListener.bind({ host: '127.0.0.1', port: 0 });
    master = newMaster(new FakeRegistry(), early);
    await master.close();
    expect(early.address()).toBeUndefined();
  });
});
