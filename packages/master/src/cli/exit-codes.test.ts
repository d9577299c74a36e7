import { describe, expect, it } from 'vitest';
import {
  DatabaseUnavailableError,
  InvalidDatabaseSettingsError,
  InvalidWorkerAddressError,
  InvalidWorkerIdError,
  UsageError,
  WorkerAlreadyRegisteredError,
  WorkerNotFoundError,
  listenError,
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

describe('listen failures (serve)', () => {
  const errno = (code: string) => Object.assign(new Error(`listen ${code}`), { code });
  it.each([
    ['EADDRINUSE', '10.0.0.5:8080 is in use by another program (another master?): stop that program, or choose another port with --port (MASTER_PORT)', 'PORT_IN_USE'],
    [
      'EACCES',
      '10.0.0.5:8080: this user may not listen on port 8080 (below 1024 it takes root or CAP_NET_BIND_SERVICE): choose a port of 1024 or more with --port (MASTER_PORT), or give the service CAP_NET_BIND_SERVICE (systemd: AmbientCapabilities=)',
      'PORT_NOT_PERMITTED',
    ],
    [
      'EADDRNOTAVAIL',
      '10.0.0.5:8080: no network interface of this machine has the address 10.0.0.5: choose one it has (ip -brief address), or 0.0.0.0 for all of them, with --host (MASTER_HOST)',
      'ADDRESS_NOT_AVAILABLE',
    ],
  ])('%s: a coded line naming the address and what to do, exit 1', (code, text, errorCode) => {
    const error = listenError(errno(code), '10.0.0.5', 8080);
    expect(errorLine(error, (t) => t)).toBe(`cluster-master: error [${errorCode}]: ${text}`);
    expect(exitCodeFor(error)).toBe(EXIT.failed);
  });

  it('any other listen failure is left as it was', () => {
    const other = errno('EMFILE');
    expect(listenError(other, '::1', 80)).toBe(other);
  });
});
