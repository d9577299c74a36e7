import { Registry } from 'prom-client';
import { expect, test } from 'vitest';
import { createMasterMetrics } from './metrics.js';

test('heartbeats counted on the heartbeat path are in the counter whenever it is read, once each', async () => {
  const registry = new Registry();
  const metrics = createMasterMetrics(registry);
  metrics.heartbeatReceived();
  metrics.heartbeatReceived();
  expect(await registry.metrics()).toContain('cluster_master_heartbeats_received_total 2');
  metrics.heartbeatReceived();
  expect((await metrics.heartbeatsReceived.get()).values[0]?.value).toBe(3);
  expect(await registry.metrics()).toContain('cluster_master_heartbeats_received_total 3');
});
