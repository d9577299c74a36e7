import type { Timers } from '../timers.js';
import type { TokenSource } from '../token.js';

export interface TokenWatch {
  stop(): void;
}

/**
 * While the agent waits out its slow retry after its token was refused (401,
 * 4401) or could not be read, it reads the token again every `intervalMs` and
 * calls `changed` once the source holds a usable token other than the refused
 * one. An admin who rotates a token and writes the new one into the agent's
 * file (`cluster-master worker token ID --token-file FILE`) has the worker back
 * within about a second instead of after the minute-long wait; a token that
 * did not change keeps the slow pace, so a fleet with a revoked token does
 * not hammer the master. The first read happens at once: the new token is
 * often in the file before the master's 4401 arrives.
 *
 * `refused` is the token the master refused, or undefined when none could be
 * read. A read that fails is tried again at the next tick (the failure was
 * logged when it mattered).
 */
export function watchForNewToken(source: TokenSource, refused: string | undefined, timers: Timers, intervalMs: number, changed: () => void): TokenWatch {
  let stopped = false;
  let timer: unknown;

  const check = async (): Promise<void> => {
    timer = undefined;
    let token: string | undefined;
    try {
      token = await source.read();
    } catch {
      token = undefined;
    }
    if (stopped) return;
    if (token !== undefined && token !== refused) {
      stopped = true;
      changed();
      return;
    }
    timer = timers.setTimeout(() => void check(), intervalMs);
  };

  void check();
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) timers.clearTimeout(timer);
      timer = undefined;
    },
  };
}
