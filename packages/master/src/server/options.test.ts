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
