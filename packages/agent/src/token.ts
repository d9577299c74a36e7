import { bearer, parseBearer } from '@cluster/protocol/agent-side';

/** A credential that cannot be used; the message names where it came from, never the token. */
export class TokenError extends Error {}

/**
 * Where the agent's credential comes from. A token file is read again before
 * every connection attempt, so an admin who puts a new token there (after
 * `cluster-master worker token`) fixes a refused agent at its next retry,
 * without a restart. An inline token (AGENT_TOKEN, --token) is fixed.
 */
export interface TokenSource {
  /** The credential for the next attempt; throws (or rejects with) a TokenError. */
  read(): string | Promise<string>;
  /** Where an admin puts a new token, in words: "the token file /etc/…" or "AGENT_TOKEN". */
  readonly where: string;
  /** True when a new token there is picked up without a restart. */
  readonly rereads: boolean;
}

/** Trims and checks a token; the token itself is never echoed, not even in an error. */
export function checkToken(text: string, where: string): string {
  const token = text.trim();
  if (token === '') throw new TokenError(`${where} is empty`);
  if (parseBearer(bearer(token)) === undefined) {
    throw new TokenError(`the token in ${where} is malformed: expected 16 to 256 characters of A-Z a-z 0-9 _ -`);
  }
  return token;
}

export type ReadFile = (path: string) => Promise<Buffer>;

/** Reads and checks a token file (a few bytes). `from` names the setting, for messages. */
export async function readTokenFile(readFile: ReadFile, path: string, from?: string): Promise<string> {
  let content: Buffer;
  try {
    content = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new TokenError(`cannot read token file ${path}${from === undefined ? '' : ` (${from})`}: ${code}`);
  }
  return checkToken(content.toString('utf8'), `token file ${path}`);
}

export function fixedToken(token: string, where: string): TokenSource {
  return { read: () => token, where, rereads: false };
}

export function tokenFile(path: string, readFile: ReadFile): TokenSource {
  return { read: () => readTokenFile(readFile, path), where: `the token file ${path}`, rereads: true };
}
