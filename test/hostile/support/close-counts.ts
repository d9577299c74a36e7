/** How many connections ended with each close code and reason: the message of an assertion on how they ended. */
export function closeCodeCounts(closed: readonly { code: number; reason: string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const c of closed) {
    const key = `${c.code} ${c.reason}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
