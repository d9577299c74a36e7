/**
 * Runs the tasks given for one key one after another, in the order given;
 * tasks of different keys run freely. For a read-modify-write the database
 * does not make atomic: the dev database (FerretDB 1.x on SQLite) applies an
 * update by reading the document and writing it back, so two concurrent
 * `$inc`s on one document can leave it incremented once (MongoDB applies
 * each atomically).
 */
export class OneAtATime {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.catch(() => undefined);
    this.#tails.set(key, tail);
    // The last task of a key removes its entry, so the map holds only keys with work in flight.
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Keys with a task queued or running. */
  get size(): number {
    return this.#tails.size;
  }
}
