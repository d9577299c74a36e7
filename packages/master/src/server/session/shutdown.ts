import type { Server } from 'node:http';
import type { AgentSession, SessionEndCause } from './agent-session.js';

/**
 * Closes every session with the given code and waits until their sockets are
 * closed; each session destroys its socket itself if the peer does not
 * complete the handshake within its close grace.
 */
export async function closeSessions(
  sessions: Iterable<AgentSession>,
  code: number,
  reason: string,
  cause: SessionEndCause,
): Promise<void> {
  const all = [...sessions];
  for (const session of all) session.close(code, reason, cause);
  await Promise.all(all.map((s) => s.closed));
}

/**
 * Stops listening; resolves once every connection the server accepted is
 * gone (upgraded ones included), so call closeAllConnections() once the
 * sessions are closed.
 */
export function stopListening(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
