import { ENROLLMENT_PROTOCOL_VERSION, HEADERS, enrollAuthorization } from '@cluster/protocol';
import { describe, expect, it } from 'vitest';
import { captureLogger } from '../test-support/fakes.js';
import type { AddressMatcher } from './address.js';
import { EnrollmentAdmission, type EnrollmentPort } from './enrollment.js';
import type { AdmissionView } from './view.js';

/** Enrollment's answer while the master is still loading its admission view (the view and the database stubbed: nothing else is reached). */

const HEADERS_OK = {
  [HEADERS.protocolVersion]: String(ENROLLMENT_PROTOCOL_VERSION),
  [HEADERS.workerId]: 'gpu-01',
  [HEADERS.authorization]: enrollAuthorization('enroll_0123456789abcdefghij'),
};

function admission(loadingRetryAfterS: (() => number | undefined) | undefined): { enrollment: EnrollmentAdmission; reads: string[] } {
  const reads: string[] = [];
  const port: EnrollmentPort = {
    find: () => (reads.push('find'), Promise.resolve(null)),
    consume: () => Promise.resolve(false),
    release: () => Promise.resolve(),
    claim: () => Promise.reject(new Error('not reached')),
    undo: () => Promise.resolve(),
  };
  const enrollment = new EnrollmentAdmission({
    port,
    view: { loaded: false } as unknown as AdmissionView,
    addresses: {} as AddressMatcher,
    checkSourceAddress: true,
    now: () => new Date('2026-01-01T00:00:00Z'),
    logger: captureLogger().logger,
    closeTimeoutMs: 1_000,
    loadingRetryAfterS,
  });
  return { enrollment, reads };
}

describe('enrollment while the admission view loads', () => {
  it('answers 503 with the Retry-After a session upgrade gets, and reads nothing', async () => {
    const { enrollment, reads } = admission(() => 2);
    expect(await enrollment.decide(HEADERS_OK, '10.0.0.1', () => true)).toMatchObject({ ok: false, status: 503, reason: 'registry not loaded yet', retryAfterS: 2 });
    expect(reads).toEqual([]);
  });

  it('gives no Retry-After when the master has none to give (its database failing)', async () => {
    const decision = await admission(() => undefined).enrollment.decide(HEADERS_OK, '10.0.0.1', () => true);
    expect(decision).toMatchObject({ ok: false, status: 503 });
    expect(decision).not.toHaveProperty('retryAfterS');
  });
});
