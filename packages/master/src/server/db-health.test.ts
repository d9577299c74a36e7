import { expect, test } from 'vitest';
import { DbHealth, describeError } from './db-health.js';
import { ManualClock, captureLogger } from './test-support/fakes.js';

test('an outage is logged once (error, with the retry delay) and its end once (info)', () => {
  const clock = new ManualClock();
  const { logger, lines } = captureLogger();
  const health = new DbHealth(logger, clock);
  let outages = 0;
  health.onOutage(() => (outages += 1));
  expect(health.ok).toBe(false); // nothing answered yet
  health.success('view');
  expect(health.ok).toBe(true);
  expect(health.recoveredAtMs).toBeUndefined();
  for (let i = 0; i < 5; i++) health.failure('heartbeat', new Error('connect ECONNREFUSED'), 500 * 2 ** i);
  expect(outages).toBe(1); // its listeners told once, as the log
  expect(health.ok).toBe(false);
  clock.advance(3_000);
  health.success('heartbeat');
  expect(health.recoveredAtMs).toBe(clock.monotonic());
  expect(lines.filter((l) => l.level === 50)).toEqual([
    expect.objectContaining({ op: 'heartbeat', retry_in_ms: 500, error: { name: 'Error', message: 'connect ECONNREFUSED' } }),
  ]);
  expect(lines.filter((l) => l.level === 30)).toEqual([expect.objectContaining({ msg: 'database reachable again', outage_ms: 3_000 })]);
});

test('describeError keeps name, message and code only', () => {
  const error = Object.assign(new Error('boom'), { code: 'E1', uri: 'mongodb://u:p@h' });
  expect(describeError(error)).toEqual({ name: 'Error', message: 'boom', code: 'E1' });
  expect(describeError('text')).toEqual({ name: 'Error', message: 'text' });
});
