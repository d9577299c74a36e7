import type WebSocket from 'ws';

const WELCOME_PREFIX = '{"type":"welcome"';

/**
 * Which master each simulated agent is on, seen from the agent's side: a
 * connection counts from the master's welcome until its socket closes. For
 * the failover figure, the agents on a master about to be killed are marked,
 * and the first welcome each then gets from another master is kept.
 */
export class Placement {
  /** worker id → URL of its welcomed connection. */
  readonly #on = new Map<string, string>();
  /** Marked agents: worker id → [URL it was on, when another master welcomed it (epoch ms)]. */
  readonly #marked = new Map<string, { from: string; movedAt: number | null }>();

  /** Follows one connection of an agent to `url`. */
  watch(id: string, url: string, ws: WebSocket): void {
    let welcomed = false;
    const onMessage = (data: WebSocket.RawData): void => {
      if (welcomed || !Buffer.isBuffer(data) || data.toString('utf8', 0, WELCOME_PREFIX.length) !== WELCOME_PREFIX) return;
      welcomed = true;
      ws.off('message', onMessage);
      this.#on.set(id, url);
      const m = this.#marked.get(id);
      if (m !== undefined && m.movedAt === null && url !== m.from) m.movedAt = Date.now();
    };
    ws.on('message', onMessage);
    ws.once('close', () => {
      if (welcomed && this.#on.get(id) === url) this.#on.delete(id);
    });
  }

  byUrl(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const url of this.#on.values()) out[url] = (out[url] ?? 0) + 1;
    return out;
  }

  /** Marks the agents welcomed by `url` now; returns how many. */
  mark(url: string): number {
    this.#marked.clear();
    for (const [id, on] of this.#on) if (on === url) this.#marked.set(id, { from: url, movedAt: null });
    return this.#marked.size;
  }

  moves(): [string, number | null][] {
    return [...this.#marked].map(([id, m]) => [id, m.movedAt]);
  }
}
