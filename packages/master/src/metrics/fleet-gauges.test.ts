import { Registry } from 'prom-client';
import { describe, expect, test } from 'vitest';
import { registerFleetGauges, type FleetStateSource } from './fleet-gauges.js';

describe('fleet gauges', () => {
  test('one scrape asks the feed once for all four gauges (its answer counts the whole fleet); the next scrape asks again', async () => {
    const registry = new Registry();
    let asked = 0;
    const source: FleetStateSource = {
      stateForScrape: () => {
        asked += 1;
        return Promise.resolve({ state: { active: 3, inactive: 1, oldestActiveHeartbeatAgeSeconds: 4, longestInactiveSeconds: 60 }, ageMs: 2_500 });
      },
    };
    registerFleetGauges(registry, source);
    const text = await registry.metrics();
    expect(asked).toBe(1);
    expect(text).toContain('cluster_master_registry_workers{state="active"} 3');
    expect(text).toContain('cluster_master_registry_workers{state="inactive"} 1');
    expect(text).toContain('cluster_master_registry_oldest_active_heartbeat_age_seconds 4');
    expect(text).toContain('cluster_master_registry_longest_inactive_seconds 60');
    expect(text).toContain('cluster_master_registry_read_age_seconds 2.5');
    await registry.metrics();
    expect(asked).toBe(2);
  });
});
