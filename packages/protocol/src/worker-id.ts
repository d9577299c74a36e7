/**
 * The safe set for worker ids: letters, digits, '.', '_' and '-', starting with
 * a letter or digit, at most 64 characters. It excludes everything that could
 * reach a query operator ('$'), a header injection (CR/LF), a shell or a log
 * line in surprising ways, and matches what host names look like.
 */
export const WORKER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const WORKER_ID_MAX_LENGTH = 64;

export function isValidWorkerId(value: unknown): value is string {
  return typeof value === 'string' && WORKER_ID_PATTERN.test(value);
}
