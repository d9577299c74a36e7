import { describe, expect, it } from 'vitest';
import {
  DatabaseUnavailableError,
  InvalidDatabaseSettingsError,
  InvalidWorkerAddressError,
  InvalidWorkerIdError,
  UsageError,
  WorkerAlreadyRegisteredError,
  WorkerNotFoundError,
} from '../errors.js';
import { EXIT, errorLine, exitCodeFor } from './exit-codes.js';

describe('exitCodeFor', () => {
  it.each([
    [new UsageError('Unknown argument: x'), EXIT.usage],
    [new InvalidWorkerIdError('a$b'), EXIT.usage],
    [new InvalidWorkerAddressError('x y'), EXIT.usage],
    [new InvalidDatabaseSettingsError('bad'), EXIT.usage],
    [new WorkerNotFoundError('w'), EXIT.failed],
    [new WorkerAlreadyRegisteredError('w'), EXIT.failed],
    [new DatabaseUnavailableError('h:1', 'refused'), EXIT.failed],
    [new Error('bug'), EXIT.failed],
    ['thrown string', EXIT.failed],
  ])('%s -> %d', (error, code) => {
    expect(exitCodeFor(error)).toBe(code);
  });
});

describe('errorLine', () => {
  const hide = (text: string) => text.replaceAll('s3cret', '***');

  it('is one line with the code, the message and no stack', () => {
    const line = errorLine(new WorkerNotFoundError('w1'), hide);
    expect(line).toBe(
      'cluster-master: error [WORKER_NOT_FOUND]: worker "w1" is not registered; see the registered ones with: cluster-master worker list',
    );
  });

  it('points usage errors at --help', () => {
    expect(errorLine(new UsageError('Unknown argument: x'), hide)).toBe(
      'cluster-master: error [USAGE]: Unknown argument: x (see --help)',
    );
  });

  it('flattens multi-line messages of unexpected errors and hides secrets', () => {
    expect(errorLine(new Error('auth failed for s3cret\n  at foo (bar.js:1:1)'), hide)).toBe(
      'cluster-master: error [INTERNAL]: auth failed for *** at foo (bar.js:1:1)',
    );
  });
});
