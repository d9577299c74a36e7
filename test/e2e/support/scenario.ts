import { it, type TestContext } from 'vitest';
import type { DbTarget } from './cluster.js';
import { scenarioDatabase } from './cluster.js';
import { ProcSet } from './processes.js';
import type { Summary } from './report.js';

export interface ScenarioContext {
  procs: ProcSet;
  /** The file's dev database and a database name of this scenario's own. */
  target: DbTarget;
  /** Run after the scenario's processes are killed, last added first. */
  cleanup(fn: () => Promise<unknown>): void;
  /** Records (and prints) one measured figure; the scenario fails if any of its figures fails. */
  figure(name: string, figure: string, bound: string, pass: boolean): void;
  /** Ends the scenario as skipped, with the reason in the summary. */
  skip(reason: string): never;
}

class Skipped extends Error {}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]?.slice(0, 140) ?? text;
}

/**
 * One scenario as one test: its own processes (killed in the
 * end whatever happens), its own database, its figures in the summary. A
 * scenario that throws before recording a figure gets a FAIL row saying why,
 * and every process's last log lines are printed for diagnosis.
 */
export function defineScenario(
  summary: Summary,
  uri: () => string,
  label: string,
  timeoutMs: number,
  body: (ctx: ScenarioContext) => Promise<void>,
): void {
  it(label, async (testContext: TestContext) => {
    const procs = new ProcSet();
    const cleanups: (() => Promise<unknown>)[] = [];
    const failed: string[] = [];
    let recorded = 0;
    const ctx: ScenarioContext = {
      procs,
      target: { uri: uri(), database: scenarioDatabase(label.split(' ')[0] ?? 'x') },
      cleanup: (fn) => cleanups.push(fn),
      figure(name, figure, bound, pass) {
        recorded += 1;
        summary.add({ scenario: name, figure, bound, verdict: pass ? 'pass' : 'FAIL' });
        if (!pass) failed.push(`${name}: ${figure} (bound: ${bound})`);
      },
      skip(reason) {
        summary.add({ scenario: label, figure: `skipped: ${reason}`, bound: '-', verdict: 'skipped' });
        recorded += 1;
        throw new Skipped(reason);
      },
    };
    let skipped: string | undefined;
    try {
      await body(ctx);
      if (failed.length > 0) throw new Error(`out of bounds:\n${failed.join('\n')}`);
    } catch (error) {
      if (error instanceof Skipped) {
        skipped = error.message;
      } else {
        if (recorded === 0) summary.add({ scenario: label, figure: `no figure: ${firstLine(error)}`, bound: '-', verdict: 'FAIL' });
        console.error(`[e2e] ${label} failed; process logs:\n${procs.diagnostics()}`);
        throw error;
      }
    } finally {
      await procs.killAll();
      for (const fn of cleanups.reverse()) {
        try {
          await fn();
        } catch (error) {
          console.error(`[e2e] ${label}: cleanup failed: ${firstLine(error)}`);
        }
      }
    }
    if (skipped !== undefined) {
      console.log(`[e2e] ${label}: SKIPPED: ${skipped}`);
      testContext.skip(skipped);
    }
  }, timeoutMs);
}
