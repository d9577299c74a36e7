import { execFile } from 'node:child_process';
import type { Timers } from '../timers.js';

export type CommandResult =
  | { ok: true; stdout: string }
  | { ok: false; reason: 'not-found' | 'timeout' | 'failed'; message: string };

/**
 * Runs a program without a shell and never throws. `timeoutMs` asks the child
 * to be killed; callers still race it against their own deadline (see
 * `runWithDeadline`), because a child stuck in the kernel (a wedged GPU
 * driver) outlives SIGKILL and its exit callback may never come.
 */
export type RunCommand = (file: string, args: readonly string[], timeoutMs: number) => Promise<CommandResult>;

export const runCommand: RunCommand = (file, args, timeoutMs) =>
  new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 4 * 1024 * 1024,
        encoding: 'utf8',
        // Parsers expect the C locale's numbers and English messages.
        env: { ...process.env, LC_ALL: 'C' },
        windowsHide: true,
      },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ ok: true, stdout });
          return;
        }
        const e = error as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null };
        if (e.code === 'ENOENT') {
          resolve({ ok: false, reason: 'not-found', message: `${file} is not installed` });
        } else if (e.killed === true || e.signal === 'SIGKILL') {
          resolve({ ok: false, reason: 'timeout', message: `${file} did not answer within ${timeoutMs} ms` });
        } else {
          const detail = firstLine(stderr) || firstLine(stdout) || e.message;
          resolve({ ok: false, reason: 'failed', message: `${file} failed: ${detail}` });
        }
      },
    );
  });

function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim() !== '')?.trim().slice(0, 200) ?? '';
}

/** Resolves with a timeout result once `timeoutMs` passes, whether or not the child ever exits. */
export function runWithDeadline(
  run: RunCommand,
  file: string,
  args: readonly string[],
  timeoutMs: number,
  timers: Timers,
): { result: Promise<CommandResult>; settled: Promise<void> } {
  const child = run(file, args, timeoutMs);
  let handle: unknown;
  const deadline = new Promise<CommandResult>((resolve) => {
    handle = timers.setTimeout(
      () => resolve({ ok: false, reason: 'timeout', message: `${file} did not answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
  });
  const result = Promise.race([child, deadline]).finally(() => timers.clearTimeout(handle));
  return { result, settled: child.then(() => undefined) };
}
