/**
 * Every duration carries its unit in its name. These are the production
 * defaults; both daemons let an operator override the ones that are options.
 */
export const DEFAULTS = {
  /** Path of the agents' WebSocket endpoint on the master. */
  agentPath: '/agent',
  /** How often an agent sends a heartbeat; the master dictates it in `welcome`. */
  heartbeatIntervalMs: 5_000,
  /** A worker whose last heartbeat is older than this is flagged inactive (3 beats). */
  heartbeatTimeoutMs: 15_000,
  /**
   * Largest message either side accepts. The biggest legitimate message is a
   * hello with the inventory (HARDWARE_LIMITS.maxBytes, 12 KiB, at most) and a
   * few hundred bytes more; anything larger is hostile or broken. (Version 1
   * masters take 4,096 bytes; an agent speaking version 1 sends no inventory.)
   */
  maxMessageBytes: 16_384,
  /** A connection that has not sent its hello by then is closed. */
  helloTimeoutMs: 10_000,
  /** Reconnect backoff: full jitter between 0 and min(cap, base * 2^attempt). */
  reconnectBaseMs: 1_000,
  reconnectCapMs: 10_000,
  /** Retry delay after a refusal that only an admin can fix (unknown worker, bad token). */
  refusedRetryMs: 60_000,
  /** A connection that lived this long resets the backoff. */
  stableConnectionMs: 30_000,
  /** How often the agent measures the machine again. */
  reprobeIntervalMs: 5 * 60_000,
} as const;

/**
 * The cadence a master may dictate in `welcome` (inclusive bounds): agents
 * refuse a welcome outside them, so a master must not be configured outside them.
 */
export const CADENCE_LIMITS = {
  heartbeatIntervalMs: { min: 10, max: 3_600_000 },
  heartbeatTimeoutMs: { min: 20, max: 7_200_000 },
} as const;

/** Numbers of the protocol's spec values, for validation on both sides. */
export const SPEC_LIMITS = {
  maxCpu: 65_536,
  /** GiB. */
  maxMemory: 1_048_576,
  /** GB (10^9 bytes). */
  maxStorage: 1_000_000_000,
  maxGpu: 1_024,
} as const;
