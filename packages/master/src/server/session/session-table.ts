/** What the registry needs of a session. */
export interface KeyedSession {
  readonly workerId: string;
  /**
   * Written by the table alone: whether this is its worker's current session.
   * A field on the session rather than a lookup, because it is asked at
   * every heartbeat (a lookup in a map of 10,000 workers is a cache miss or
   * more each time).
   */
  current?: boolean;
}

/**
 * One live session per worker on this master. A newer connection for the same
 * worker replaces the older one; the caller closes the older one (4409).
 */
export class SessionTable<S extends KeyedSession> {
  readonly #byWorker = new Map<string, S>();
  /** Claims and releases so far: who holds what changed when this moved (the fleet feed skips its scan otherwise). */
  changes = 0;

  get size(): number {
    return this.#byWorker.size;
  }

  get(workerId: string): S | undefined {
    return this.#byWorker.get(workerId);
  }

  isCurrent(session: S): boolean {
    return session.current === true;
  }

  /** Makes `session` the worker's current one; returns the one it replaces, if any. */
  claim(session: S): S | undefined {
    const previous = this.#byWorker.get(session.workerId);
    this.#byWorker.set(session.workerId, session);
    this.changes += 1;
    if (previous !== undefined) previous.current = false;
    session.current = true;
    return previous === session ? undefined : previous;
  }

  /** Removes `session` if it is still the current one; true if it was. */
  release(session: S): boolean {
    if (!this.isCurrent(session)) return false;
    this.#byWorker.delete(session.workerId);
    session.current = false;
    this.changes += 1;
    return true;
  }

  values(): IterableIterator<S> {
    return this.#byWorker.values();
  }
}
