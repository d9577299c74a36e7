import type { ChildProcessWithoutNullStreams } from 'node:child_process';

/** A spawned CLI process whose stdout and stderr are gathered in one string, for tests that wait on its output. */
export class Spawned {
  out = '';
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (this.out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (this.out += chunk));
    this.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  }

  async waitFor(what: string, test: (out: string) => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!test(this.out)) {
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}; output so far:\n${this.out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
