/**
 * When a viewer of the registry (the fleet page's feed, `worker list
 * --watch`) reads every document again, besides the reads a new admission
 * version asks for.
 *
 * The periodic full read is there for what a viewer cannot learn otherwise:
 * the heartbeats, connections and flags that serving masters write (for the
 * feed: masters other than its own, whose writes it follows itself). Every
 * master that serves workers publishes on the write horizon
 * (MASTER_WRITE_HORIZON) at least once per flush; one that serves nobody
 * withdraws, and the time of the last withdrawal is kept there too (the flags
 * it wrote as it went). So when no (other) master has been on the horizon,
 * nor left it, for a while,
 * nobody writes the registry but the admin tools, which set a new admission
 * version: the full read can wait. At 10,000 workers a full read costs the
 * dev database about two CPU-seconds, one horizon read a few milliseconds.
 *
 * Writes from outside this package (mongosh) set no version and publish
 * nothing: they show within `quietFullReadMs`.
 */
export interface FullReadCadence {
  /** While a (other) master serves, or served lately: the whole registry is read this often. */
  fullReadMs: number;
  /** While none does: this often, for writes made outside this package. */
  quietFullReadMs: number;
}

/** The quiet period, as a multiple of the normal one, when not given. */
export const QUIET_FULL_READ_FACTOR = 10;

/**
 * A master seen serving keeps the normal cadence this many full-read periods
 * after it was last seen: its last writes, and the flags written when it went
 * away (its workers swept one heartbeat timeout later by a survivor, or
 * flagged by itself at a clean stop), land after the last sighting and must
 * be read once more.
 */
export const SERVING_MEMORY_PERIODS = 2;

export type FullReadStep = 'read' | 'ask' | 'wait';

/**
 * The decision, pure (times in monotonic ms):
 * - 'read' a full read is due;
 * - 'ask': read the write horizon first (the normal period has passed and the
 *   horizon was not asked within it), then call again;
 * - 'wait': nothing now.
 */
export function fullReadStep(
  cadence: FullReadCadence,
  state: { nowMs: number; lastReadMs: number; lastAskedMs: number; servingSeenMs: number },
): FullReadStep {
  const sinceRead = state.nowMs - state.lastReadMs;
  if (sinceRead >= cadence.quietFullReadMs) return 'read';
  if (sinceRead < cadence.fullReadMs) return 'wait';
  if (state.nowMs - state.servingSeenMs <= SERVING_MEMORY_PERIODS * cadence.fullReadMs) return 'read';
  if (state.nowMs - state.lastAskedMs >= cadence.fullReadMs) return 'ask';
  return 'wait';
}

/** How many masters (other than the asker) published on the write horizon, or withdrew from it, since `sinceMs` (epoch ms). */
export type ServingMasters = (sinceMs: number) => Promise<number>;

/**
 * The cadence's state, for one viewer: when it last read whole, asked the
 * horizon, and saw a master serving. Without a horizon port every period
 * reads (as before the horizon was consulted).
 */
export class FullReadSchedule {
  #lastReadMs = Number.NEGATIVE_INFINITY;
  #lastAskedMs = Number.NEGATIVE_INFINITY;
  /** When the horizon last showed a master serving (or leaving); it is asked before the first periodic read. */
  #servingSeenMs = Number.NEGATIVE_INFINITY;
  /** Monotonic ms of the last horizon read that found no master writing (the view was current then, as far as masters go). */
  #quietAskMs = Number.NEGATIVE_INFINITY;
  /** Horizon reads so far (what the cost tests count). */
  asks = 0;

  constructor(
    private readonly cadence: FullReadCadence,
    private readonly serving: ServingMasters | undefined,
    private readonly clock: { monotonic(): number; now(): number },
  ) {}

  get cadenceMs(): FullReadCadence {
    return this.cadence;
  }

  /** Monotonic ms the last full read that succeeded started (-Infinity: none yet). */
  get lastReadMs(): number {
    return this.#lastReadMs;
  }

  /** When the horizon last said that no master had written the registry lately (monotonic ms; -Infinity: never). */
  get quietAsOfMs(): number {
    return this.#quietAskMs;
  }

  /** A full read started at `monotonicMs` succeeded. */
  readAt(monotonicMs: number): void {
    this.#lastReadMs = monotonicMs;
  }

  /** A read failed or is otherwise wanted at the next call (an outage: what changed meanwhile is not known). */
  forget(): void {
    this.#lastReadMs = Number.NEGATIVE_INFINITY;
  }

  /** Whether a full read is due now; asks the horizon when the decision needs it (a failed ask counts as a master serving). */
  async due(): Promise<boolean> {
    const state = (): Parameters<typeof fullReadStep>[1] => ({
      nowMs: this.clock.monotonic(),
      lastReadMs: this.#lastReadMs,
      lastAskedMs: this.#lastAskedMs,
      servingSeenMs: this.#servingSeenMs,
    });
    const step = this.serving === undefined ? (this.clock.monotonic() - this.#lastReadMs >= this.cadence.fullReadMs ? 'read' : 'wait') : fullReadStep(this.cadence, state());
    if (step !== 'ask' || this.serving === undefined) return step === 'read';
    const askedAt = this.clock.monotonic();
    this.#lastAskedMs = askedAt;
    this.asks += 1;
    let count: number;
    try {
      // Two periods back: asks are a period apart plus a tick, and a master that served only between two asks must be seen.
      count = await this.serving(this.clock.now() - 2 * this.cadence.fullReadMs);
    } catch {
      count = 1;
    }
    if (count > 0) this.#servingSeenMs = askedAt;
    else if (askedAt - this.#servingSeenMs > SERVING_MEMORY_PERIODS * this.cadence.fullReadMs) this.#quietAskMs = askedAt;
    return fullReadStep(this.cadence, state()) === 'read';
  }
}
