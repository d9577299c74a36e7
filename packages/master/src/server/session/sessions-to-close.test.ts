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
