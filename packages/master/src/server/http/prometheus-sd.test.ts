import { describe, expect, test } from 'vitest';
import type { Worker } from '../../registry/worker.js';
import { sdPort, targetGroups } from './prometheus-sd.js';
import { safeJson } from './respond.js';

const worker = (id: string, ip: string, active: boolean): Worker => ({
  worker_id: id, worker_ip: ip, total_cpu: 4, total_memory: 7.5, total_storage: 100, total_gpu: 0,
  is_active: active, last_heartbeat: 0, registered_at: new Date(0), updated_at: new Date(0),
});

describe('Prometheus service discovery', () => {
  test('active workers only; IPv6 in brackets; label values are strings', () => {
    expect(targetGroups([worker('a', '10.0.0.1', true), worker('b', 'fe80::1', true), worker('c', '10.0.0.3', false), worker('d', 'node-4.lan', true)], 9100)).toEqual([
      { targets: ['10.0.0.1:9100'], labels: { worker_id: 'a', worker_ip: '10.0.0.1', cpus: '4', memory_gib: '7.5', storage_gb: '100', gpus: '0' } },
      { targets: ['[fe80::1]:9100'], labels: expect.objectContaining({ worker_id: 'b' }) as unknown },
      { targets: ['node-4.lan:9100'], labels: expect.objectContaining({ worker_id: 'd' }) as unknown },
    ]);
  });

  test('port: 9100 by default, 1..65535, once', () => {
    expect(sdPort(new URLSearchParams(''))).toBe(9100);
    expect(sdPort(new URLSearchParams('port=65535'))).toBe(65_535);
    for (const q of ['port=0', 'port=1e3', 'port=-1', 'port=', 'port=1&port=2', 'x=1']) expect(() => sdPort(new URLSearchParams(q)), q).toThrow();
  });

  test('safeJson: the same JSON, no markup characters', () => {
    const value = { id: '</script><b>&\u2028' };
    const text = safeJson(value);
    expect(text).not.toMatch(/[<>&\u2028]/);
    expect(JSON.parse(text)).toEqual(value);
  });
});
