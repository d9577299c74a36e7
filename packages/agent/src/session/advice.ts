import { CloseCode, DEFAULTS, NOT_ADMITTED } from '@cluster/protocol/agent-side';
import type { TokenSource } from '../token.js';

/**
 * What an admin should do about a refusal, a close or a failed connection,
 * with this agent's own worker id, token location and URL filled in: advice
 * an admin can paste, not a template to complete.
 */
export interface AdviceContext {
  workerId: string;
  token: Pick<TokenSource, 'where' | 'rereads'>;
  /** The master URL (origin and path only). */
  url: string;
  /** This machine's address on the refused connection, when the socket said. */
  localAddress?: string | undefined;
}

/**
 * Bodies of a 404 that mean "no endpoint at this path". The master answers an
 * upgrade at a path it does not serve with 404 and the body `unknown path`
 * (older masters said `not found`, and so does many a proxy); older masters
 * answered an unregistered worker with 404 and `unknown worker` (now: 401 and
 * NOT_ADMITTED, like a wrong token). Any other 404 could be either, and the
 * advice names both.
 */
const UNKNOWN_PATH = /^(unknown path|not found)\b/i;
const UNKNOWN_WORKER = /^unknown worker\b/i;
/** A master that serves TLS may answer a plain-text request with a 400 that says so. */
const SPEAKS_TLS = /\bTLS\b|https|wss:/i;

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** `::ffff:10.0.0.5` (an IPv4 peer on a dual-stack socket) reads as 10.0.0.5. */
function plainAddress(address: string | undefined): string | undefined {
  if (address === undefined || address === '') return undefined;
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

/**
 * How the worker's current token reaches this agent. The admin has often just
 * issued it: the advice says where it goes first, and only then how to issue
 * another when nobody has it.
 */
export function tokenFix(ctx: AdviceContext): string {
  const reissue = `if nobody has it, \`cluster-master worker token ${ctx.workerId}\` on the master issues another`;
  return ctx.token.rereads
    ? `put the worker's current token in ${ctx.token.where}: the agent checks that file every second while refused and tries again as soon as it changes, no restart needed (${reissue})`
    : `put the worker's current token in ${ctx.token.where} and restart the agent (${reissue})`;
}

function registerCommand(ctx: AdviceContext): string {
  const address = plainAddress(ctx.localAddress);
  const command = `\`cluster-master worker register ${ctx.workerId} ${address ?? "<this machine's address>"}\``;
  return address === undefined ? command : `${command} (${address} is this machine's side of the connection; behind NAT, give the address the master sees)`;
}

function wrongAddress(ctx: AdviceContext): string {
  const address = plainAddress(ctx.localAddress);
  return `worker ${ctx.workerId} connects from an address other than its registered worker_ip${address === undefined ? '' : ` (this side of the connection: ${address})`}: run \`cluster-master worker update ${ctx.workerId} --ip ${address ?? '<address it connects from>'}\` on the master (the token stays), or start the master with --no-check-source-address`;
}

const VERSIONS = 'the agent and the master speak different protocol versions: upgrade the older one';

/** The advice for a refused upgrade; `body` is the master's short reason, already sanitised. */
export function adviceForStatus(status: number, body: string, ctx: AdviceContext): string {
  switch (status) {
    case 401:
      // The master answers an unknown id and a wrong token alike (its log says which): the advice covers both.
      if (body.startsWith(NOT_ADMITTED)) {
        return `the master does not know worker ${ctx.workerId} or does not accept this token (its log says which, as "unknown worker" or "invalid token"): if ${ctx.workerId} is not registered, run ${registerCommand(ctx)} on the master; if it is, ${tokenFix(ctx)}`;
      }
      return `the master does not accept this token for worker ${ctx.workerId}: ${tokenFix(ctx)}`;
    case 429:
      return `the master refuses this address for a while after too many refused upgrades from it (a wrong token or id, here or on another agent behind the same address): fix the token or id, and the agent gets in at a later retry`;
    case 403:
      return wrongAddress(ctx);
    case 404:
      if (UNKNOWN_WORKER.test(body)) return `worker id ${ctx.workerId} is not registered on this master: run ${registerCommand(ctx)} on the master`;
      if (UNKNOWN_PATH.test(body)) return `the master serves no agent endpoint at ${pathOf(ctx.url)}: use its agent path in the master URL (${DEFAULTS.agentPath} unless a proxy maps it elsewhere)`;
      return `the answer at ${pathOf(ctx.url)} was 404: either that path is not the master's agent endpoint (${DEFAULTS.agentPath} unless a proxy maps it elsewhere), or worker id ${ctx.workerId} is not registered (${registerCommand(ctx)})`;
    case 426:
      return VERSIONS;
    case 400:
      if (ctx.url.startsWith('ws:') && SPEAKS_TLS.test(body)) return plainToTls(ctx);
      break;
  }
  return `the master answered HTTP ${status} instead of upgrading to a WebSocket: check that the master URL points at the master's agent endpoint and that any proxy in between forwards the Upgrade and Connection headers`;
}

/** The advice for a close code, or undefined when there is nothing for an admin to do. */
export function adviceForClose(code: number, ctx: AdviceContext): string | undefined {
  switch (code) {
    case CloseCode.unauthorized:
      return `the master no longer accepts this token (a new one was issued for worker ${ctx.workerId}, or its registration was replaced): ${tokenFix(ctx)}`;
    case CloseCode.forbidden:
      return wrongAddress(ctx);
    case CloseCode.unregistered:
      return `worker ${ctx.workerId} was unregistered: if it should stay, run ${registerCommand(ctx)} on the master`;
    case CloseCode.unsupportedVersion:
      return VERSIONS;
    default:
      return undefined;
  }
}

/** The advice for a token file the agent cannot use. */
export function adviceForToken(ctx: AdviceContext): string {
  return `put worker ${ctx.workerId}'s token in ${ctx.token.where} (\`cluster-master worker token ${ctx.workerId}\` on the master issues a new one); the agent checks it every second and tries again as soon as it can use it`;
}

function plainToTls(ctx: AdviceContext): string {
  return `the master at ${hostOf(ctx.url)} speaks TLS and this agent spoke plain text (ws://): use wss:// in the master URL (with --ca-file if its certificate is not publicly trusted)`;
}

/**
 * A connection that failed before any HTTP answer, in words. TLS against a
 * plain master fails inside OpenSSL ("wrong version number"); plain text
 * against a TLS master is dropped without a word ("socket hang up"): neither
 * says what is wrong, so say it here.
 */
export function explainConnectError(error: { code?: string | undefined; message: string }, ctx: AdviceContext): { words: string; advice?: string } {
  const tls = ctx.url.startsWith('wss:');
  const code = error.code ?? '';
  if (tls && (/^ERR_SSL_(WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST)$/.test(code) || (code === 'EPROTO' && /wrong version number|packet length too long|http request/i.test(error.message)))) {
    return {
      words: `the master at ${hostOf(ctx.url)} does not speak TLS: it answered this wss:// connection in plain text`,
      advice: `use ws:// in the master URL, or start the master with --tls-cert and --tls-key to serve wss://`,
    };
  }
  if (!tls && code === 'ECONNRESET' && /socket hang up/i.test(error.message)) {
    return {
      words: `the master at ${hostOf(ctx.url)} closed the connection without answering the upgrade`,
      advice: `if the master serves TLS, this ws:// URL speaks plain text to it: use wss:// in the master URL; otherwise see the master's log`,
    };
  }
  const plain = SOCKET_ERRORS[code];
  return { words: plain ?? error.message };
}

/** Socket errors in words (the round's line names several masters: `connect ECONNREFUSED 10.0.0.1:8080` each is noise). */
const SOCKET_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed (DNS unavailable)',
};
