import { expect, test } from 'vitest';
import { RefusalLog } from './refusal-log.js';
import { ManualClock, captureLogger, testMetrics } from '../test-support/fakes.js';

function setup(linesPerSecond = 2) {
  const clock = new ManualClock();
  const { logger, lines } = captureLogger();
  const metrics = testMetrics();
  const log = new RefusalLog({ logger, metrics, clock, linesPerSecond });
  const count = async (name: 'refusals' | 'httpRefusals', reason: string): Promise<number> =>
    (await metrics[name].get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
  return { clock, lines, log, count };
}

test('an HTTP refusal is counted and logged at warn with address, method, status and an escaped path', async () => {
  const { lines, log, count } = setup();
  log.http({ reason: 'method_not_allowed', status: 405, address: '10.0.0.9', method: 'POST', path: '/agent\u202e' });
  expect(await count('httpRefusals', 'method_not_allowed')).toBe(1);
  expect(lines).toEqual([
    expect.objectContaining({ level: 40, msg: 'http request refused', address: '10.0.0.9', method: 'POST', status: 405, path: '/agent\\u202e' }),
  ]);
});

test('a reset by the peer is counted but logged at debug only', async () => {
  const { lines, log, count } = setup();
  log.http({ reason: 'reset', status: undefined, address: '10.0.0.9', code: 'ECONNRESET' });
  expect(await count('httpRefusals', 'reset')).toBe(1);
  expect(lines.map((l) => l.level)).toEqual([20]);
});

test('lines are capped per reason; every event is counted; the rest summed up on close', async () => {
  const { lines, log, count } = setup(2);
  for (let i = 0; i < 50; i++) log.http({ reason: 'timeout', status: 408, address: '10.0.0.9', code: 'ERR_HTTP_REQUEST_TIMEOUT' });
  log.upgrade({ ok: false, status: 404, reason: 'unknown worker', metric: 'unknown_worker', workerId: 'w9' }, {}, '10.0.0.9');
  log.close();
  expect(await count('httpRefusals', 'timeout')).toBe(50);
  expect(await count('refusals', 'unknown_worker')).toBe(1);
  expect(lines.filter((l) => l.msg === 'http request refused')).toHaveLength(2);
  expect(lines.filter((l) => l.msg === 'refused')).toEqual([expect.objectContaining({ worker_id: 'w9', status: 404 })]);
  expect(lines.at(-1)).toMatchObject({ level: 40, msg: 'refusals not logged (log rate limit)', kind: 'http', reason: 'timeout', suppressed: 48 });
});

test('an upgrade refusal before the id passed validation logs what was given, escaped and bounded', () => {
  const { lines, log } = setup();
  log.upgrade({ ok: false, status: 400, reason: 'missing or invalid worker id', metric: 'bad_worker_id' }, { 'x-worker-id': `\u001b[31m${'x'.repeat(100)}` }, '10.0.0.9');
  const line = lines[0];
  expect(line?.worker_id).toBeUndefined();
  expect(line?.worker_id_given).toMatch(/^\\u001b\[31mx+…$/);
  expect(String(line?.worker_id_given).length).toBeLessThanOrEqual(65);
});
