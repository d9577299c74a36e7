import type { Db } from 'mongodb';
import { createEnrolledCredentials } from '../../registry/enrolled-credential.js';
import { createEnrollmentTokenStore } from '../../registry/enrollment-token-store.js';
import { EnrollmentAdmission, type EnrollmentDeps } from './enrollment.js';

/** Enrollment on the master's database; none for a master without one (its enrollment upgrades are refused). */
export function enrollmentFor(db: Db | undefined, deps: Omit<EnrollmentDeps, 'port' | 'now'> & { now?: () => Date }): EnrollmentAdmission | undefined {
  if (db === undefined) return undefined;
  const tokens = createEnrollmentTokenStore(db);
  const credentials = createEnrolledCredentials(db);
  return new EnrollmentAdmission({
    ...deps,
    now: deps.now ?? (() => new Date()),
    port: {
      find: (token) => tokens.find(token),
      consume: (id, maxUses, now) => tokens.consume(id, maxUses, now),
      release: (id) => tokens.release(id),
      claim: (workerId, tokenId, now) => credentials.claim(workerId, tokenId, now),
      undo: (workerId, hash) => credentials.undo(workerId, hash),
    },
  });
}
