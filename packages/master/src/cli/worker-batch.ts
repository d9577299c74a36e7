import { isValidWorkerId } from '@cluster/protocol';
import { quote } from '../printable.js';
import { MAX_BATCH, expandRange } from '../registry/id-range.js';
import { isValidWorkerAddress } from '../registry/validate.js';

export { MAX_BATCH, expandRange };

/**
 * Many workers at once, for `worker register --from FILE` and
 * `worker register 'gpu-[01-64]' --ip '10.0.4.[21-84]'`. Pure: the command
 * reads the file and writes the registry; this turns text into a checked list
 * or into every problem found, each with its line number, so an admin fixes a
 * file in one pass instead of one error per run.
 */

export interface BatchEntry {
  worker_id: string;
  worker_ip: string;
  /** 1-based line of the file; for a range, the position in the range. */
  line: number;
}

export interface BatchProblem {
  /** 1-based line (or range position); 0 for a problem of the whole input. */
  line: number;
  message: string;
}

export type BatchResult = { ok: true; entries: BatchEntry[] } | { ok: false; problems: BatchProblem[] };

/** `gpu-[01-64]` with `10.0.4.[21-84]`: the two ranges paired in order; their lengths must agree. */
export function batchFromRanges(idPattern: string, ipPattern: string): BatchResult {
  let ids: string[];
  let ips: string[];
  try {
    ids = expandRange(idPattern);
    ips = expandRange(ipPattern);
  } catch (error) {
    return { ok: false, problems: [{ line: 0, message: (error as Error).message }] };
  }
  if (ips.length !== ids.length && ips.length !== 1) {
    return {
      ok: false,
      problems: [{ line: 0, message: `${quote(idPattern)} names ${ids.length} workers but ${quote(ipPattern)} names ${ips.length} addresses; give as many addresses as workers` }],
    };
  }
  if (ips.length === 1 && ids.length > 1) {
    return { ok: false, problems: [{ line: 0, message: `${ids.length} workers cannot share the one address ${quote(ipPattern)}; give an address range such as 10.0.4.[21-84]` }] };
  }
  return checkBatch(ids.map((worker_id, i) => ({ worker_id, worker_ip: ips[i]!, line: i + 1 })));
}

/**
 * Lines of `ID IP` (spaces or tabs between), `#` comments and blank lines
 * ignored. Each line may itself be a range pair (`gpu-[01-04] 10.0.4.[21-24]`).
 */
export function batchFromText(text: string): BatchResult {
  const entries: BatchEntry[] = [];
  const problems: BatchProblem[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    const content = raw.replace(/#.*$/, '').trim();
    if (content === '') return;
    const fields = content.split(/\s+/);
    if (fields.length !== 2) {
      problems.push({ line, message: `expected "WORKER_ID ADDRESS", found ${fields.length} field${fields.length === 1 ? '' : 's'}` });
      return;
    }
    const [id, ip] = fields as [string, string];
    if (/[[\]]/.test(id)) {
      const expanded = batchFromRanges(id, ip);
      if (!expanded.ok) {
        for (const p of expanded.problems) problems.push({ line, message: p.message });
        return;
      }
      for (const e of expanded.entries) entries.push({ ...e, line });
      return;
    }
    entries.push({ worker_id: id, worker_ip: ip, line });
  });
  if (entries.length + problems.length === 0) return { ok: false, problems: [{ line: 0, message: 'no workers given: the input holds no "WORKER_ID ADDRESS" line' }] };
  const checked = checkBatch(entries);
  if (!checked.ok) problems.push(...checked.problems);
  if (problems.length > 0) return { ok: false, problems: problems.sort((a, b) => a.line - b.line) };
  return checked;
}

/** Every id and address valid, no id twice, at most MAX_BATCH. */
export function checkBatch(entries: BatchEntry[]): BatchResult {
  const problems: BatchProblem[] = [];
  if (entries.length > MAX_BATCH) problems.push({ line: 0, message: `${entries.length} workers at once; register at most ${MAX_BATCH} per command` });
  const firstLine = new Map<string, number>();
  for (const e of entries) {
    if (!isValidWorkerId(e.worker_id)) {
      problems.push({ line: e.line, message: `invalid worker id ${quote(e.worker_id)}: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit` });
    }
    if (!isValidWorkerAddress(e.worker_ip)) {
      problems.push({ line: e.line, message: `invalid worker address ${quote(e.worker_ip)}: give an IPv4 address, an IPv6 address or a host name` });
    }
    const seen = firstLine.get(e.worker_id);
    if (seen === undefined) firstLine.set(e.worker_id, e.line);
    else problems.push({ line: e.line, message: `worker ${quote(e.worker_id)} is given twice (first on line ${seen})` });
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, entries };
}

/** One problem as the admin reads it. `source`: "line" for a file, "position" for a range. */
export function describeProblem(p: BatchProblem, source: 'line' | 'position'): string {
  return p.line === 0 ? p.message : `${source} ${p.line}: ${p.message}`;
}
