/** What the registry needs of a session. */
export interface KeyedSession {
  readonly workerId: string;
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
    return this.#byWorker.get(session.workerId) === session;
  }

  /** Makes `session` the worker's current one; returns the one it replaces, if any. */
  claim(session: S): S | undefined {
    const previous = this.#byWorker.get(session.workerId);
    this.#byWorker.set(session.workerId, session);
    this.changes += 1;
    return previous === session ? undefined : previous;
  }

  /** Removes `session` if it is still the current one; true if it was. */
  release(session: S): boolean {
    if (!this.isCurrent(session)) return false;
    this.#byWorker.delete(session.workerId);
    this.changes += 1;
    return true;
  }

  values(): IterableIterator<S> {
    return this.#byWorker.values();
  }
}
