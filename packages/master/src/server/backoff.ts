/**
 * Delay before retry number `attempt` (0-based) of a database operation:
 * doubling from baseMs, capped at capMs. No jitter: one master retrying
 * its own writes does not form a herd.
 */
export function retryDelayMs(attempt: number, baseMs: number, capMs: number): number {
  const exponent = Math.min(Math.max(attempt, 0), 30);
  return Math.min(capMs, baseMs * 2 ** exponent);
}
