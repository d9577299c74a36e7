import { describe, expect, it } from 'vitest';
import type { Worker } from '../registry/worker.js';
import { formatAmount, formatDate, formatTable, formatWorkerDetails, formatWorkerTable, relativeTime, workerToJson } from './format.js';

const NOW = new Date('2025-10-15T10:35:00Z');
const nowSeconds = NOW.getTime() / 1000;

const worker = (overrides: Partial<Worker> = {}): Worker => ({
  worker_id: 'worker-1',
  worker_ip: '192.168.1.10',
  total_cpu: 8,
  total_memory: 15.625,
  total_storage: 500,
  total_gpu: 2,
  is_active: true,
  last_heartbeat: nowSeconds - 4,
  registered_at: new Date('2025-10-15T10:30:00.123Z'),
  updated_at: new Date('2025-10-15T10:34:56Z'),
  ...overrides,
});

describe('relativeTime', () => {
  it.each([
    [0, 'never'],
    [nowSeconds, '0s ago'],
    [nowSeconds - 4, '4s ago'],
    [nowSeconds - 119, '119s ago'],
    [nowSeconds - 120, '2m ago'],
    [nowSeconds - 3 * 3600, '3h ago'],
    [nowSeconds - 5 * 86_400, '5d ago'],
    [nowSeconds + 3, 'in 3s'],
  ])('%d -> %s', (seconds, text) => {
    expect(relativeTime(seconds, nowSeconds)).toBe(text);
  });
});

describe('numbers and dates', () => {
  it('prints whole numbers bare and others with at most two decimals', () => {
    expect(formatAmount(8)).toBe('8');
    expect(formatAmount(15.625)).toBe('15.63');
    expect(formatAmount(0.5)).toBe('0.5');
  });

  it('prints dates in ISO 8601 to the second', () => {
    expect(formatDate(new Date('2025-10-15T10:30:00.123Z'))).toBe('2025-10-15T10:30:00Z');
  });
});

describe('formatTable', () => {
  it('pads columns to their widest cell and right-aligns numeric ones', () => {
    expect(formatTable(['NAME', 'N'], [['a', '1'], ['long-name', '100']], new Set([1]))).toBe(
      ['NAME         N', 'a            1', 'long-name  100'].join('\n'),
    );
  });
});

describe('worker output', () => {
  it('lines up the worker table', () => {
    const table = formatWorkerTable([worker(), worker({ worker_id: 'w2', worker_ip: '::1', is_active: false, last_heartbeat: 0, total_cpu: 64 })], NOW);
    const lines = table.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^WORKER_ID\s+IP\s+ACTIVE\s+CPU\s+MEMORY_GIB\s+STORAGE_GB\s+GPU\s+LAST_HEARTBEAT\s+REGISTERED_AT$/);
    expect(lines[1]).toMatch(/^worker-1\s+192\.168\.1\.10\s+yes\s+8\s+15\.63\s+500\s+2\s+4s ago\s+2025-10-15T10:30:00Z$/);
    expect(lines[2]).toMatch(/^w2\s+::1\s+no\s+64\s.*never/);
    // Every row starts its columns where the header's do.
    const column = (line: string | undefined, text: string) => line?.indexOf(text);
    expect(column(lines[1], '192.168')).toBe(column(lines[0], 'IP'));
    expect(column(lines[1], '4s ago')).toBe(column(lines[0], 'LAST_HEARTBEAT'));
  });

  it('shows one worker field by field', () => {
    const text = formatWorkerDetails(worker(), NOW);
    expect(text).toContain('worker_id       worker-1');
    expect(text).toContain(`last_heartbeat  ${nowSeconds - 4} (4s ago)`);
    expect(formatWorkerDetails(worker({ last_heartbeat: 0 }), NOW)).toContain('last_heartbeat  0 (never)');
  });

  it('gives JSON with the contract fields and ISO dates', () => {
    expect(workerToJson(worker())).toEqual({
      worker_id: 'worker-1',
      worker_ip: '192.168.1.10',
      total_cpu: 8,
      total_memory: 15.625,
      total_storage: 500,
      total_gpu: 2,
      is_active: true,
      last_heartbeat: nowSeconds - 4,
      registered_at: '2025-10-15T10:30:00.123Z',
      updated_at: '2025-10-15T10:34:56.000Z',
    });
  });
});
