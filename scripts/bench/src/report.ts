/** The table printed at the end: each figure next to its limit. */
export type Verdict = 'met' | 'missed' | 'n/a' | '';

export interface Row {
  scenario: string;
  metric: string;
  value: string;
  target: string;
  verdict: Verdict;
}

export function check(ok: boolean | undefined): Verdict {
  return ok === undefined ? 'n/a' : ok ? 'met' : 'missed';
}

export function fmt(value: number | undefined, unit = '', digits = 1): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  const text = Math.abs(value) >= 1000 ? Math.round(value).toLocaleString('en-US') : value.toFixed(digits).replace(/\.0+$/, '');
  return unit === '' ? text : `${text} ${unit}`;
}

export function table(rows: readonly Row[]): string {
  const header: Row = { scenario: 'scenario', metric: 'metric', value: 'value', target: 'target', verdict: '' };
  const all = [header, ...rows];
  const width = (k: keyof Row): number => Math.max(...all.map((r) => r[k].length), k === 'verdict' ? 7 : 0);
  const cols: (keyof Row)[] = ['scenario', 'metric', 'value', 'target', 'verdict'];
  const line = (r: Row): string => `| ${cols.map((k) => (k === 'verdict' && r === header ? 'verdict' : r[k]).padEnd(width(k))).join(' | ')} |`;
  const rule = `|${cols.map((k) => '-'.repeat(width(k) + 2)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
