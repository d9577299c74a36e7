import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../../test/support/database.js';
import { WORKER_EVENTS_COLLECTION, type WorkerEvent } from '../history/worker-event.js';
import { runCli } from './program.js';

/** `worker events` in-process on the dev database: the table on a terminal, JSON lines in a pipe, its filters' errors. */

const NOW = new Date('2025-10-15T10:30:00Z');
let t: TestDatabase;

const at = (minutesAgo: number): Date => new Date(NOW.getTime() - minutesAgo * 60_000);
const EVENTS: WorkerEvent[] = [
  { _id: 'm:01', worker_id: 'gpu-07', at: at(300), kind: 'admitted', cause: null, instance: '5f0c2a9e-aaaa-4bbb-8ccc-000000000001', detail: { address: '10.0.0.7', agent_version: '0.2.0', protocol_version: 2 } },
  { _id: 'm:02', worker_id: 'gpu-07', at: at(90), kind: 'disconnected', cause: 'connection_lost', instance: '5f0c2a9e-aaaa-4bbb-8ccc-000000000001', detail: { code: 1006, reason: null } },
  { _id: 'm:03', worker_id: 'gpu-07', at: at(89), kind: 'flagged_inactive', cause: 'timeout', instance: '5f0c2a9e-aaaa-4bbb-8ccc-000000000001' },
  { _id: 'c:04', worker_id: 'gpu-07', at: at(30), kind: 'address_changed', cause: null, instance: 'cli@admin-host', detail: { from: '10.0.0.7', to: '10.0.0.8' } },
  { _id: 'm:05', worker_id: 'cpu-01', at: at(10), kind: 'flagged_inactive', cause: 'clean_close', instance: '5f0c2a9e-aaaa-4bbb-8ccc-000000000001' },
];

beforeEach(async () => {
  t = await openTestDatabase('cli_events');
  await t.db.collection<WorkerEvent>(WORKER_EVENTS_COLLECTION).insertMany(EVENTS.map((e) => ({ ...e })));
});
afterEach(async () => {
  await t.close();
});

async function cli(argv: string[], tty: boolean): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli({
    argv,
    env: { MONGODB_URI: t.uri, MONGODB_DATABASE: t.name },
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    now: () => NOW,
    stdoutIsTTY: tty,
  });
  return { code, stdout, stderr };
}

describe('worker events', () => {
  it('on a terminal: a table, oldest first, from → to in the detail, the master by the first block of its id', async () => {
    const result = await cli(['worker', 'events', 'gpu-07'], true);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+WORKER\s+KIND\s+CAUSE\s+BY\s+DETAIL$/);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/))).toEqual([
      ['2025-10-15 05:30:00Z', 'gpu-07', 'admitted', '5f0c2a9e', 'address=10.0.0.7 agent_version=0.2.0 protocol_version=2'],
      ['2025-10-15 09:00:00Z', 'gpu-07', 'disconnected', 'connection_lost', '5f0c2a9e', 'code=1006'],
      ['2025-10-15 09:01:00Z', 'gpu-07', 'flagged_inactive', 'timeout', '5f0c2a9e'],
      ['2025-10-15 10:00:00Z', 'gpu-07', 'address_changed', 'cli@admin-host', '10.0.0.7 → 10.0.0.8'],
    ]);
  });

  it('in a pipe: JSON lines; --since and --kind narrow it, across workers', async () => {
    const result = await cli(['worker', 'events', '--since', '2h', '--kind', 'flagged_inactive'], false);
    expect(result.code).toBe(0);
    expect(result.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([
      { id: 'm:03', worker_id: 'gpu-07', at: '2025-10-15T09:01:00.000Z', kind: 'flagged_inactive', cause: 'timeout', instance: '5f0c2a9e-aaaa-4bbb-8ccc-000000000001' },
      { id: 'm:05', worker_id: 'cpu-01', at: '2025-10-15T10:20:00.000Z', kind: 'flagged_inactive', cause: 'clean_close', instance: '5f0c2a9e-aaaa-4bbb-8ccc-000000000001' },
    ]);
    expect((await cli(['worker', 'events', '--limit', '1', '--json'], true)).stdout).toContain('"id":"m:05"');
  });

  it('a wrong --since or --kind is a usage error (exit 2) that says what is accepted', async () => {
    const since = await cli(['worker', 'events', '--since', 'yesterday'], true);
    expect(since.code).toBe(2);
    expect(since.stderr).toContain('since must be a duration (90s, 30m, 2h, 7d) or an ISO 8601 time, got "yesterday"');
    // A duration past what a date can hold is the same usage error, not a database failure.
    const huge = await cli(['worker', 'events', '--since', '99999999999999999999d'], true);
    expect(huge.code).toBe(2);
    expect(huge.stderr).toContain('since must be a duration');
    const kind = await cli(['worker', 'events', '--kind', 'exploded'], true);
    expect(kind.code).toBe(2);
    expect(kind.stderr).toContain('unknown event kind "exploded"; kinds: registered, enrolled, admitted');
    expect((await cli(['worker', 'events', 'no such id!'], true)).code).not.toBe(0);
  });

  it('a --limit outside 1 to 10000 is a usage error, not silently clamped (the API answers 400 alike)', async () => {
    for (const limit of ['0', '10001']) {
      const result = await cli(['worker', 'events', '--limit', limit], true);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`--limit needs a whole number from 1 to 10000, got "${limit}"`);
      expect(result.stdout).toBe('');
    }
    expect((await cli(['worker', 'events', '--limit', '10000', '--json'], true)).code).toBe(0);
  });
});
