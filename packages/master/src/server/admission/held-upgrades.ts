import type { Clock, Timer } from '../clock.js';

export interface HeldUpgradesOptions<T> {
  /** Entries held at most; past it hold() says no (the caller refuses at once). */
  max: number;
  /** How long an entry may wait; then it is handed to onExpired. */
  holdMs: number;
  clock: Pick<Clock, 'monotonic' | 'setTimeout' | 'clearTimeout'>;
  /** An entry that waited holdMs without being taken, oldest first; it has left the queue. */
  onExpired(entry: T): void;
}

/**
 * Upgrades the master cannot take yet (its admission view still loading, or
 * its admissions in flight at their bound), held in arrival order instead of
 * answered 503: the caller takes the oldest as soon as it can. Each one held
 * is an attempt the agent does not make again and a Retry-After it does not
 * sleep. Bounded twice: in number (`max`), so a flood of upgrades holds no
 * more than that many sockets the kernel already holds, and in time
 * (`holdMs`), well under the agent's welcome timeout, so what is held is
 * still wanted when it is taken; what passes either bound is answered 503 as
 * before. Entries are the caller's (one object per upgrade); the queue only
 * orders and times them. One timer, for the oldest entry's deadline.
 */
export class HeldUpgrades<T extends object> {
  /** Entry → monotonic time it was held; a Map keeps insertion order, so the first is the oldest. */
  readonly #entries = new Map<T, number>();
  #timer: Timer | undefined;
  /** The deadline the timer is armed for (monotonic ms). */
  #timerAtMs: number | undefined;

  constructor(private readonly options: HeldUpgradesOptions<T>) {}

  get size(): number {
    return this.#entries.size;
  }

  /** Holds the entry; false when the queue is full (nothing held). */
  hold(entry: T): boolean {
    if (this.#entries.size >= this.options.max) return false;
    this.#entries.set(entry, this.options.clock.monotonic());
    this.#arm();
    return true;
  }

  /** The oldest entry, still held. */
  oldest(): T | undefined {
    for (const entry of this.#entries.keys()) return entry;
    return undefined;
  }

  /** Takes the entry out (taken by the caller, or its peer left); true if it was held. */
  remove(entry: T): boolean {
    const held = this.#entries.delete(entry);
    if (held && this.#entries.size === 0) this.#disarm();
    return held;
  }

  /** Takes every entry out, oldest first (shutdown). */
  clear(): T[] {
    const all = [...this.#entries.keys()];
    this.#entries.clear();
    this.#disarm();
    return all;
  }

  /** Hands every entry that has waited holdMs to onExpired, oldest first; then the timer waits for the next one. */
  expire(): void {
    const { clock, holdMs } = this.options;
    const now = clock.monotonic();
    for (const [entry, heldAtMs] of this.#entries) {
      if (now - heldAtMs < holdMs) break;
      this.#entries.delete(entry);
      this.options.onExpired(entry);
    }
    this.#arm();
  }

  /** The timer at the oldest entry's deadline (entries are in order of their deadlines). */
  #arm(): void {
    const first = this.#entries.entries().next();
    if (first.done === true) {
      this.#disarm();
      return;
    }
    const dueAtMs = first.value[1] + this.options.holdMs;
    // Armed for an earlier deadline (an entry since taken): it fires early, finds nothing due and arms again.
    if (this.#timerAtMs !== undefined && this.#timerAtMs <= dueAtMs) return;
    this.#disarm();
    const { clock } = this.options;
    this.#timerAtMs = dueAtMs;
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerAtMs = undefined;
      this.expire();
    }, Math.max(0, dueAtMs - clock.monotonic()));
    this.#timer.unref();
  }

  #disarm(): void {
    this.options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAtMs = undefined;
  }
}
