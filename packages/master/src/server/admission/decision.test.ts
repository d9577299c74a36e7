import type { IncomingHttpHeaders } from 'node:http';
import { PROTOCOL_VERSION } from '@cluster/protocol';
import { describe, expect, test } from 'vitest';
import { hashToken, tokensMatch } from '../../registry/token.js';
import { AddressMatcher } from './address.js';
import { AdmissionView } from './view.js';
import { checkHeaders, decideAdmission, type AdmissionDeps } from './decision.js';
import { FakeRegistry, ManualClock, captureLogger, testHealth } from '../test-support/fakes.js';

const TOKEN = 'tok_'.padEnd(43, 'x');
const OTHER = 'oth_'.padEnd(43, 'y');

function headers(over: Record<string, string | undefined> = {}): IncomingHttpHeaders {
  const h: Record<string, string | undefined> = {
    'x-protocol-version': String(PROTOCOL_VERSION),
    'x-worker-id': 'w1',
    authorization: `Bearer ${TOKEN}`,
    ...over,
  };
  return Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined));
}

async function setup(options: { checkSourceAddress?: boolean; lookup?: (host: string) => Promise<string[]> } = {}) {
  const registry = new FakeRegistry();
  registry.add('w1', '10.0.0.1', hashToken(TOKEN));
  registry.add('w2', '10.0.0.2', hashToken(OTHER));
  const clock = new ManualClock();
  const { health } = testHealth(clock);
  const view = new AdmissionView({
    registry,
    credentials: registry,
    clock,
    health,
    logger: captureLogger().logger,
    missRefreshMinIntervalMs: 0,
    countCheckMs: 60_000,
    fullRefreshMs: 600_000,
  });
  const deps: AdmissionDeps = {
    view,
    addresses: new AddressMatcher(options.lookup ?? (() => Promise.resolve([])), clock, 1_000),
    verifyToken: tokensMatch,
    checkSourceAddress: options.checkSourceAddress ?? true,
  };
  await view.refresh();
  registry.calls.length = 0;
  return { registry, view, deps, clock };
}

describe('checkHeaders', () => {
  test('version first (426), then the worker id (400)', () => {
    expect(checkHeaders(headers({ 'x-protocol-version': '3' }))).toMatchObject({ status: 426, reason: 'protocol version 1 or 2 required' });
    expect(checkHeaders(headers({ 'x-protocol-version': '0' }))).toMatchObject({ status: 426 });
    expect(checkHeaders(headers({ 'x-protocol-version': '02' }))).toMatchObject({ status: 426 });
    expect(checkHeaders(headers({ 'x-protocol-version': undefined }))).toMatchObject({ status: 426 });
    expect(checkHeaders(headers({ 'x-worker-id': '$where' }))).toMatchObject({ status: 400 });
    expect(checkHeaders(headers({ 'x-worker-id': undefined }))).toMatchObject({ status: 400 });
    expect(checkHeaders(headers())).toEqual({ ok: true, workerId: 'w1', token: TOKEN, protocolVersion: 2 });
  });

  test('the previous protocol version is admitted too, and named in the decision', () => {
    expect(checkHeaders(headers({ 'x-protocol-version': '1' }))).toEqual({ ok: true, workerId: 'w1', token: TOKEN, protocolVersion: 1 });
  });
});

describe('decideAdmission', () => {
  test('admits the right token from the right address without a database read', async () => {
    const { deps, registry } = await setup();
    expect(await decideAdmission(deps, headers(), '10.0.0.1')).toMatchObject({ ok: true, workerId: 'w1' });
    expect(registry.calls).toEqual([]);
  });

  test('refuses 503 until the view is loaded', async () => {
    const registry = new FakeRegistry();
    const clock = new ManualClock();
    const view = new AdmissionView({
      registry,
      credentials: registry,
      clock,
      health: testHealth(clock).health,
      logger: captureLogger().logger,
      missRefreshMinIntervalMs: 0,
      countCheckMs: 60_000,
      fullRefreshMs: 600_000,
    });
    const deps: AdmissionDeps = {
      view,
      addresses: new AddressMatcher(() => Promise.resolve([]), clock, 0),
      verifyToken: tokensMatch,
      checkSourceAddress: false,
    };
    expect(await decideAdmission(deps, headers(), '10.0.0.1')).toMatchObject({ status: 503 });
  });

  test('an unknown id is read from the database each time, so a registration right after a refusal works', async () => {
    const { deps, registry } = await setup();
    const h = headers({ 'x-worker-id': 'ghost' });
    expect(await decideAdmission(deps, h, '10.0.0.1')).toMatchObject({ status: 401, reason: 'unknown worker', answer: 'unknown worker or invalid token', workerId: 'ghost' });
    expect(registry.count('listAdmissionView')).toBe(1);
    registry.add('ghost', '10.0.0.1', hashToken(TOKEN));
    expect(await decideAdmission(deps, h, '10.0.0.1')).toMatchObject({ ok: true, workerId: 'ghost' });
    expect(registry.count('listAdmissionView')).toBe(2);
  });

  test('a worker registered after the last refresh is admitted at once', async () => {
    const { deps, registry } = await setup();
    registry.add('fresh', '10.0.0.9', hashToken(TOKEN));
    expect(await decideAdmission(deps, headers({ 'x-worker-id': 'fresh' }), '10.0.0.9')).toMatchObject({ ok: true });
  });

  test('401 for a missing, wrong or other worker token; a missing one without a read', async () => {
    const { deps, registry } = await setup();
    expect(await decideAdmission(deps, headers({ authorization: undefined }), '10.0.0.1')).toMatchObject({ status: 401 });
    expect(registry.calls).toEqual([]);
    expect(await decideAdmission(deps, headers({ authorization: 'Basic abc' }), '10.0.0.1')).toMatchObject({ status: 401 });
    expect(await decideAdmission(deps, headers({ authorization: `Bearer ${'z'.repeat(43)}` }), '10.0.0.1')).toMatchObject({
      status: 401,
    });
    expect(await decideAdmission(deps, headers({ authorization: `Bearer ${OTHER}` }), '10.0.0.1')).toMatchObject({
      status: 401,
    });
  });

  test('a registered worker with no stored credential is refused 401 whatever token it shows', async () => {
    const { deps, registry } = await setup();
    // A hand-made registration, or a credential deleted afterwards: the document is there, the hash is not.
    registry.add('bare', '10.0.0.1', hashToken(TOKEN));
    registry.hashes.delete('bare');
    const h = headers({ 'x-worker-id': 'bare' });
    expect(await decideAdmission(deps, h, '10.0.0.1')).toMatchObject({ ok: false, status: 401, workerId: 'bare' });
    expect(await decideAdmission(deps, headers({ 'x-worker-id': 'bare', authorization: `Bearer ${OTHER}` }), '10.0.0.1')).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(await decideAdmission({ ...deps, checkSourceAddress: false }, h, '10.0.0.9')).toMatchObject({ ok: false, status: 401 });
  });

  test('a rotated token is accepted at once', async () => {
    const { deps, registry } = await setup();
    registry.hashes.set('w1', hashToken(OTHER));
    expect(await decideAdmission(deps, headers({ authorization: `Bearer ${OTHER}` }), '10.0.0.1')).toMatchObject({ ok: true });
  });

  test('403 from another address; IPv4-mapped IPv6 counts as IPv4; the check can be turned off', async () => {
    const { deps } = await setup();
    expect(await decideAdmission(deps, headers(), '10.0.0.2')).toMatchObject({ status: 403 });
    expect(await decideAdmission(deps, headers(), '::ffff:10.0.0.1')).toMatchObject({ ok: true });
    expect(await decideAdmission({ ...deps, checkSourceAddress: false }, headers(), '10.0.0.2')).toMatchObject({ ok: true });
  });

  test('a host name worker_ip matches any of its resolved addresses', async () => {
    const resolved: string[] = [];
    const { deps, registry } = await setup({
      lookup: (host) => {
        resolved.push(host);
        return Promise.resolve(['10.1.1.1', '::1']);
      },
    });
    registry.add('named', 'node-7.example', hashToken(TOKEN));
    const h = headers({ 'x-worker-id': 'named' });
    expect(await decideAdmission(deps, h, '::1')).toMatchObject({ ok: true });
    expect(await decideAdmission(deps, h, '10.1.1.1')).toMatchObject({ ok: true });
    expect(await decideAdmission(deps, h, '10.1.1.2')).toMatchObject({ status: 403 });
    expect(resolved).toEqual(['node-7.example']);
  });
});
