import type { Hardware } from '@cluster/protocol';
import { describe, expect, test } from 'vitest';
import { PendingHardware } from './pending-hardware.js';

const hardware: Hardware = { gpus: [], host: { cpu_model: null, arch: 'x86_64', sockets: null, physical_cores: null, threads: null, os_name: null, os_version: null, kernel: null, agent_version: null } };
const entry = (worker_id: string, digest: string) => ({ worker_id, hardware, digest: digest.repeat(64) });

describe('PendingHardware', () => {
  test('the latest inventory per worker, oldest first, at most max per take', () => {
    const p = new PendingHardware();
    p.queue(entry('a', '1'));
    p.queue(entry('b', '1'));
    p.queue(entry('a', '2'));
    expect(p.size).toBe(2);
    expect(p.take(1)).toEqual([entry('b', '1')]);
    expect(p.take(10)).toEqual([entry('a', '2')]);
    expect(p.size).toBe(0);
  });

  test('a failed write puts its entries back, unless a newer inventory came meanwhile', async () => {
    const p = new PendingHardware();
    p.queue(entry('a', '1'));
    p.queue(entry('b', '1'));
    const ok = await p.writeSome(10, () => {
      p.queue(entry('a', '3'));
      return Promise.reject(new Error('down'));
    });
    expect(ok).toBe(false);
    expect(p.take(10)).toEqual([entry('a', '3'), entry('b', '1')]);
    expect(await p.writeSome(10, () => Promise.reject(new Error('never called')))).toBe(true);
  });

  test('forget drops a worker\'s pending inventory', () => {
    const p = new PendingHardware();
    p.queue(entry('a', '1'));
    p.forget('a');
    expect(p.size).toBe(0);
  });
});
