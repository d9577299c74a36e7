import type { CommandResult, RunCommand } from '../probe/run-command.js';

export type Scripted = CommandResult | 'hang' | (() => Promise<CommandResult>);

/**
 * A RunCommand that answers from a script: a result, 'hang' (never answers,
 * like nvidia-smi on a wedged driver) or a function, keyed by the whole
 * command line or by the program's name. Unscripted programs are "not installed".
 */
export function fakeRun(script: Record<string, Scripted>): RunCommand & { calls: string[] } {
  const calls: string[] = [];
  const run: RunCommand = (file, args) => {
    calls.push([file, ...args].join(' '));
    // A whole command line ("nvidia-smi -L") answers before the program's name alone.
    const answer = script[[file, ...args].join(' ')] ?? script[file];
    if (answer === undefined) return Promise.resolve({ ok: false, reason: 'not-found', message: `${file} is not installed` });
    if (answer === 'hang') return new Promise<CommandResult>(() => {});
    if (typeof answer === 'function') return answer();
    return Promise.resolve(answer);
  };
  return Object.assign(run, { calls });
}

export function stdout(text: string): CommandResult {
  return { ok: true, stdout: text };
}
