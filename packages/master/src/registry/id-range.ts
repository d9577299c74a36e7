import { quote } from '../printable.js';

/** Most workers one range (or one `worker register`) names: a rack or a few, and one insert command's worth. */
export const MAX_BATCH = 10_000;

const RANGE = /\[([^\]]*)\]/g;

/**
 * Expands one bracket range in a name or an address, as Slurm writes them:
 * `gpu-[01-64]` is gpu-01 … gpu-64 (the width of the first number is kept when it
 * has a leading zero), `n[1-3,7]` is n1 n2 n3 n7, and text without brackets is itself.
 * Throws a sentence when the range cannot be read.
 */
export function expandRange(pattern: string): string[] {
  const groups = [...pattern.matchAll(RANGE)];
  if (groups.length === 0) {
    if (/[[\]]/.test(pattern)) throw new Error(`${quote(pattern)} has an unmatched bracket`);
    return [pattern];
  }
  if (groups.length > 1) throw new Error(`${quote(pattern)} has ${groups.length} ranges; use one [a-b] range per pattern`);
  const group = groups[0]!;
  const before = pattern.slice(0, group.index);
  const after = pattern.slice(group.index + group[0].length);
  if (/[[\]]/.test(before + after)) throw new Error(`${quote(pattern)} has an unmatched bracket`);
  const out: string[] = [];
  for (const item of (group[1] ?? '').split(',')) {
    const m = /^\s*(\d{1,9})(?:\s*-\s*(\d{1,9}))?\s*$/.exec(item);
    if (m === null) throw new Error(`${quote(pattern)}: ${quote(item)} is not a number or a range a-b`);
    const startText = m[1]!;
    const endText = m[2] ?? startText;
    const start = Number(startText);
    const end = Number(endText);
    if (end < start) throw new Error(`${quote(pattern)}: the range ${startText}-${endText} runs backwards`);
    if (out.length + end - start + 1 > MAX_BATCH) throw new Error(`${quote(pattern)} names more than ${MAX_BATCH} workers`);
    const width = startText.startsWith('0') ? startText.length : 0;
    for (let n = start; n <= end; n += 1) out.push(`${before}${String(n).padStart(width, '0')}${after}`);
  }
  return out;
}

