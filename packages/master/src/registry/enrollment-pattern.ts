import { isValidWorkerId } from '@cluster/protocol';
import { globMatches } from './glob-match.js';
import { expandRange } from './id-range.js';

/**
 * Which worker ids an enrollment token may enroll (`enroll create --workers`):
 * a glob (`gpu-*`, `rack4-n??`), a Slurm range (`gpu-[01-64]`) or an exact id.
 * No pattern: any registered id. Only ids that are registered and have no
 * credential yet can enroll in any case; a pattern narrows that further.
 */
export const ENROLLMENT_PATTERN_MAX_LENGTH = 128;

/** A sentence when the pattern is unusable, else undefined. */
export function checkEnrollmentPattern(pattern: string): string | undefined {
  if (pattern.length === 0 || pattern.length > ENROLLMENT_PATTERN_MAX_LENGTH) return `a --workers pattern has 1 to ${ENROLLMENT_PATTERN_MAX_LENGTH} characters`;
  if (!/^[A-Za-z0-9._*?[\],-]+$/.test(pattern)) return `--workers ${JSON.stringify(pattern.slice(0, 80))}: use the characters of worker ids, '*' and '?' (glob), or one [a-b] range`;
  if (pattern.includes('[')) {
    if (/[*?]/.test(pattern)) return `--workers ${JSON.stringify(pattern)}: use either a glob or a range, not both`;
    try {
      const ids = expandRange(pattern);
      if (!ids.every(isValidWorkerId)) return `--workers ${JSON.stringify(pattern)} expands to ids that are not valid worker ids`;
    } catch (error) {
      return `--workers: ${(error as Error).message}`;
    }
  }
  return undefined;
}

/** Whether `workerId` is one of the ids the patterns name (every id, with no pattern). */
export function matchesEnrollmentPatterns(patterns: readonly string[], workerId: string): boolean {
  if (patterns.length === 0) return true;
  return patterns.some((pattern) => {
    if (pattern.includes('[')) {
      try {
        return expandRange(pattern).includes(workerId);
      } catch {
        return false;
      }
    }
    return globMatches(pattern, workerId);
  });
}
