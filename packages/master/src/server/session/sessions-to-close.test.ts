import { CloseCode } from '@cluster/protocol';
import { expect, test } from 'vitest';
import type { ViewEntry } from '../admission/view.js';
import { sessionsToClose } from './sessions-to-close.js';

const specs = { total_cpu: 1, total_memory: 1, total_storage: 1, total_gpu: 0 };

test('closes sessions of vanished workers (4404) and changed credentials (4401), judged only by newer refreshes', () => {
  const entries = new Map<string, ViewEntry>([
    ['kept', { workerIp: '1.1.1.1', tokenHash: 'h1', specs }],
    ['rotated', { workerIp: '1.1.1.1', tokenHash: 'new', specs }],
  ]);
  const sessions = [
    { workerId: 'kept', tokenHash: 'h1', viewSeq: 3 },
    { workerId: 'rotated', tokenHash: 'old', viewSeq: 3 },
    { workerId: 'gone', tokenHash: 'h', viewSeq: 3 },
    { workerId: 'admitted-later', tokenHash: 'h', viewSeq: 4 },
  ];
  const verdicts = sessionsToClose(sessions, { seq: 4, entries });
  expect(verdicts.map((v) => [v.session.workerId, v.code])).toEqual([
    ['rotated', CloseCode.unauthorized],
    ['gone', CloseCode.unregistered],
  ]);
});

test('closes 4403 a session whose worker_ip changed (worker update --ip); a session admitted unwatched (no worker_ip) is left alone', () => {
  const entries = new Map<string, ViewEntry>([
    ['moved', { workerIp: '10.0.0.2', tokenHash: 'h', specs }],
    ['stayed', { workerIp: '10.0.0.1', tokenHash: 'h', specs }],
    ['unwatched', { workerIp: '10.0.0.2', tokenHash: 'h', specs }],
  ]);
  const sessions = [
    { workerId: 'moved', tokenHash: 'h', workerIp: '10.0.0.1', viewSeq: 3 },
    { workerId: 'stayed', tokenHash: 'h', workerIp: '10.0.0.1', viewSeq: 3 },
    { workerId: 'unwatched', tokenHash: 'h', viewSeq: 3 },
  ];
  expect(sessionsToClose(sessions, { seq: 4, entries })).toEqual([
    { session: sessions[0], code: CloseCode.forbidden, reason: 'worker_ip changed', cause: 'address_changed' },
  ]);
  // A refresh no newer than the admission does not judge it.
  expect(sessionsToClose(sessions, { seq: 3, entries })).toEqual([]);
});
