import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT } from '../../cli/run-cli.js';

export type Verdict = 'pass' | 'FAIL' | 'skipped';

export interface Row {
  scenario: string;
  figure: string;
  bound: string;
  verdict: Verdict;
}

/** Seconds with two decimals, the unit every figure is printed in. */
export function secs(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/**
 * The figures the scenarios measured. Each one is printed when it is
 * recorded ("[e2e] 3 SIGKILL: … | bound … | pass"), and the whole table at
 * the end of the file, also written to .cache/e2e/<name>.{txt,jsonl}.
 */
export class Summary {
  readonly rows: Row[] = [];

  /** `name`: the files' name, one per test file so that files do not overwrite each other's table. */
  constructor(readonly name = 'summary') {}

  add(row: Row): Row {
    this.rows.push(row);
    console.log(`[e2e] ${row.scenario}: ${row.figure} | bound: ${row.bound} | ${row.verdict}`);
    return row;
  }

  table(): string {
    const header: Row = { scenario: 'scenario', figure: 'figure', bound: 'bound', verdict: 'pass' };
    const all = [header, ...this.rows];
    const width = (key: keyof Row) => Math.max(...all.map((r) => r[key].length));
    const w = { scenario: width('scenario'), figure: Math.min(width('figure'), 110), bound: Math.min(width('bound'), 60), verdict: 7 };
    const line = (r: Row) => `| ${r.scenario.padEnd(w.scenario)} | ${r.figure.padEnd(w.figure)} | ${r.bound.padEnd(w.bound)} | ${r.verdict.padEnd(w.verdict)} |`;
    const rule = `|${'-'.repeat(w.scenario + 2)}|${'-'.repeat(w.figure + 2)}|${'-'.repeat(w.bound + 2)}|${'-'.repeat(w.verdict + 2)}|`;
    return [line(header), rule, ...this.rows.map(line)].join('\n');
  }

  async write(): Promise<string> {
    const dir = join(ROOT, '.cache', 'e2e');
    await mkdir(dir, { recursive: true });
    const table = this.table();
    await writeFile(join(dir, `${this.name}.txt`), `${table}\n`);
    await writeFile(join(dir, `${this.name}.jsonl`), this.rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    return table;
  }
}
