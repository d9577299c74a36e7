import { expect, test } from 'vitest';
import { SERVER_DEFAULTS, resolveServerOptions } from './options.js';

test('defaults, derived liveness tick, and a rate limit that never bites the dictated cadence', () => {
  const d = resolveServerOptions();
  expect(d.heartbeatIntervalMs).toBe(5_000);
  expect(d.heartbeatTimeoutMs).toBe(15_000);
  expect(d.livenessTickMs).toBe(250);
  expect(d.rateLimitPerSecond).toBe(SERVER_DEFAULTS.rateLimitPerSecond);
  const fast = resolveServerOptions({ heartbeatIntervalMs: 50, heartbeatTimeoutMs: 300, port: undefined });
  expect(fast.livenessTickMs).toBe(50);
  expect(fast.rateLimitPerSecond).toBeGreaterThanOrEqual(80);
  expect(fast.port).toBe(8080);
});

test('the sweep interval is derived from the timeout, within the flush interval and 5 s, unless given', () => {
  expect(resolveServerOptions().sweepIntervalMs).toBe(5_000);
  expect(resolveServerOptions({ heartbeatIntervalMs: 2_000, heartbeatTimeoutMs: 6_000 }).sweepIntervalMs).toBe(2_000);
  expect(resolveServerOptions({ heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_500, flushIntervalMs: 200 }).sweepIntervalMs).toBe(500);
  expect(resolveServerOptions({ heartbeatIntervalMs: 50, heartbeatTimeoutMs: 300, flushIntervalMs: 150 }).sweepIntervalMs).toBe(150);
  expect(resolveServerOptions({ sweepIntervalMs: 1_000 }).sweepIntervalMs).toBe(1_000);
});
