import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openHarness, waitFor, type Harness, type RunningMaster } from './helpers/harness.js';
import { RawAgent } from './helpers/raw-agent.js';

/**
 * One side speaks TLS and the other does not, on real sockets against real
 * masters: the master says so in words in its log (rate-limited like every
 * refused request), and answers plain text on its TLS port with a 400 that
 * says TLS, which the agent turns into "use wss://".
 */
let h: Harness;
let dir: string;
let cert: Buffer;
let key: Buffer;

beforeAll(async () => {
  h = await openHarness();
  dir = await mkdtemp(join(tmpdir(), 'tls-mismatch-'));
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ]);
  cert = await readFile(join(dir, 'cert.pem'));
  key = await readFile(join(dir, 'key.pem'));
});
afterAll(async () => {
  await h.close();
  await rm(dir, { recursive: true, force: true });
});

/** A real TLS client (what wss:// and https:// send first) against `port`; resolves once the connection is gone. */
function tlsHello(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
  });
}

const TLS_ON_PLAIN = /^a TLS handshake arrived on this plain \(ws:\/\/\) endpoint: the client uses wss:\/\/ or https:\/\/; serve TLS with --tls-cert and --tls-key, or have the client use ws:\/\/$/;

describe('a TLS client at a plain master', () => {
  let m: RunningMaster;
  beforeAll(async () => {
    m = await h.startMaster({ refusalLogsPerSecond: 3 });
  });
  afterAll(async () => {
    await m.close();
  });

  test('is logged in words, not as HPE_INVALID_METHOD alone', async () => {
    const mark = m.logs.length;
    await tlsHello(m.port);
    const line = await waitFor('the log line', () => m.logs.slice(mark).find((l) => l.reason === 'bad_request'));
    expect(line).toMatchObject({ level: 40, address: '127.0.0.1', code: 'HPE_INVALID_METHOD', status: 400 });
    expect(line.msg).toMatch(TLS_ON_PLAIN);
  });

  test('the lines are rate-limited like every refused request; the rest summed up in one line', async () => {
    await new Promise((r) => setTimeout(r, 1_100)); // a fresh one-second window
    const mark = m.logs.length;
    await Promise.all(Array.from({ length: 8 }, () => tlsHello(m.port)));
    await waitFor('the summary', () => m.logs.slice(mark).find((l) => l.msg === 'refusals not logged (log rate limit)'), { timeoutMs: 5_000 });
    const worded = m.logs.slice(mark).filter((l) => TLS_ON_PLAIN.test(String(l.msg)));
    expect(worded).toHaveLength(3);
    expect(m.logs.slice(mark)).toContainEqual(expect.objectContaining({ reason: 'bad_request', suppressed: 5 }));
  });
});

describe('a plain client at a TLS master', () => {
  let m: RunningMaster;
  beforeAll(async () => {
    m = await h.startMaster({ tls: { cert, key } });
  });
  afterAll(async () => {
    await m.close();
  });

  test('plain HTTP is answered 400 with a body that says TLS, and logged in words', async () => {
    const mark = m.logs.length;
    const res = await fetch(`http://127.0.0.1:${m.port}/healthz`);
    expect(res.status).toBe(400);
    expect(await res.text()).toBe('this endpoint speaks TLS only: use wss:// (agents) or https://\n');
    const line = await waitFor('the log line', () => m.logs.slice(mark).find((l) => l.reason === 'tls'));
    expect(line).toMatchObject({ level: 40, address: '127.0.0.1', code: 'ERR_SSL_HTTP_REQUEST', status: 400 });
    expect(line.msg).toBe('plain HTTP arrived on this TLS (wss://) endpoint: the client uses ws:// or http://; have it use wss:// (agents) or https://');
  });

  test('a ws:// upgrade gets that 400 too: the body the agent reads as "the master speaks TLS"', async () => {
    const answer = await RawAgent.connect(`ws://127.0.0.1:${m.port}`, { workerId: 'w1', token: 'x' });
    if (answer instanceof RawAgent) throw new Error('admitted over plain text on the TLS port');
    expect(answer.status).toBe(400);
    // The agent's test for a body that says TLS (packages/agent/src/session/advice.ts).
    expect(answer.body).toMatch(/\bTLS\b|https|wss:/i);
  });
});
