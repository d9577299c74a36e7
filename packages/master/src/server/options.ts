import { CADENCE_LIMITS, DEFAULTS } from '@cluster/protocol';

/** Options of the agents' endpoint; every duration names its unit. */
export interface ServerOptions {
  /** Listen address. */
  host: string;
  /** Listen port; 0 picks a free one (see start()'s result). */
  port: number;
  /** Heartbeat cadence dictated to agents in `welcome`. */
  heartbeatIntervalMs: number;
  /** A worker not heard from for longer than this is flagged inactive. */
  heartbeatTimeoutMs: number;
  /** How often pending heartbeats / inactive flags / specs are written (one query each). */
  flushIntervalMs: number;
  /** A connection that has not said hello by then is closed (4408). */
  helloTimeoutMs: number;
  /**
   * How often the master reads the registry's admission version (one read by
   * _id) and, if an admin write changed it, re-reads the admission view (and
   * closes the sessions of unregistered workers and replaced credentials).
   */
  viewRefreshMs: number;
  /**
   * How often the counts of worker documents and credentials are compared
   * with those of the view's last full read (two `$collStats` counts, no
   * scan): a document inserted or deleted outside our tools (mongosh sets no
   * admission version) is seen within this period.
   */
  viewCountCheckMs: number;
  /**
   * The view is re-read at least this often even when neither the version
   * nor the counts changed: the bound for edits in place made outside our
   * tools (a token hash, a worker_ip, a document deleted and inserted again
   * between two count checks).
   */
  viewFullRefreshMs: number;
  /** Refuse (403) connections whose source address is not the worker's worker_ip. */
  checkSourceAddress: boolean;
  /** PEM certificate and key: serve wss:// instead of ws://. */
  tls?: { cert: string | Buffer; key: string | Buffer } | undefined;
  /** Least time between two view refreshes asked for by unknown ids or refused credentials. */
  missRefreshMinIntervalMs: number;
  /** How long a resolved worker_ip host name is trusted. */
  dnsCacheTtlMs: number;
  /** Period of the liveness check (0: derived: timeout / 6, within 10 to 250). */
  livenessTickMs: number;
  /**
   * Least time between two stale sweeps (each runs right after a successful
   * flush). 0: derived, a third of the timeout, within the flush interval and
   * 5 s. The sweep only catches workers no master is tracking (theirs died):
   * this master flags its own silent workers itself, within the timeout.
   */
  sweepIntervalMs: number;
  /** Retry of failed database work: first delay and cap. */
  retryBaseMs: number;
  retryCapMs: number;
  /** How long a close handshake may take before the socket is destroyed. */
  closeGraceMs: number;
  /** How long close() may spend writing what is pending. */
  finalFlushTimeoutMs: number;
  /**
   * How long a stopping master waits, after closing its sessions with 4503,
   * before it flags the workers it served inactive (each only while no other
   * master has written a newer heartbeat for it). 0: derived, one heartbeat
   * interval + two flushes + 2 s: time for an agent to move (its reconnect
   * jitter, 1 s by default) and for the other master to write a heartbeat in
   * a later second than this one's last (last_heartbeat is whole seconds).
   */
  handoverGraceMs: number;
  /** Most distinct sets of specs written per flush (one statement each, of one bulkWrite, with every worker that has them); the rest wait for the next flush. */
  maxSpecsPerFlush: number;
  /** Largest HTTP request head (bytes). */
  maxHeaderBytes: number;
  /** Largest HTTP request body, on every route (bytes): the sign-in form holds one token; a larger body is answered 413 and its connection closed. */
  maxBodyBytes: number;
  /** Time allowed for a request head (slow-loris guard). */
  requestTimeoutMs: number;
  /** Most refusal log lines per reason per second; the rest are counted and summed up in one line (0: no limit). */
  refusalLogsPerSecond: number;
  /** Per-connection rate limit (token bucket) on messages and ping/pong frames. */
  rateLimitBurst: number;
  rateLimitPerSecond: number;
  /** Largest message accepted from an agent (bytes). */
  maxMessageBytes: number;
  /** A peer that does not read is dropped above this many unsent bytes. */
  maxBufferedBytes: number;
  /**
   * A comment line on every open /api/events stream this often, so that a
   * proxy or load balancer in between does not close a stream that is quiet
   * (no worker changed) as idle; most close after 60 s.
   */
  eventsKeepaliveMs: number;
  /**
   * The registry-wide gauges on /metrics reuse a read of the registry this
   * recent (a page's, or an earlier scrape's) instead of reading it again. A
   * read is the whole collection: at 10,000 workers one every 5 s slowed the
   * benchmark's heartbeat writes and its restart storm (it scrapes every
   * 500 ms), so at most one a minute; alerts on these gauges wait minutes anyway.
   */
  fleetGaugeMaxAgeMs: number;
  /**
   * The registry-wide gauges read nothing until this long after the admission
   * view loaded (undefined: one heartbeat timeout, the agents' return after a
   * restart): at 10,000 workers a read of every document during that return
   * slowed the view's load and the returning agents' writes into false flags.
   */
  fleetGaugeQuietAfterLoadMs?: number | undefined;
  /**
   * While its admission view loads, a master answers upgrades 503 with this
   * wait as Retry-After (whole seconds, rounded up): agents come back then
   * (spread over one more such wait) instead of backing off further, so the
   * fleet is back soon after the view loaded. Not while the database is
   * failing: agents then keep their own backoff.
   */
  loadingRetryAfterMs: number;
  /**
   * How many of the agents refused while the view loads are told each second
   * more of wait, from loadingRetryAfterMs up to half the agents' reconnect cap
   * (admission/retry-spread.ts): about what one master admits in a second, so
   * that a whole fleet refused at once comes back at a pace the master can take.
   */
  loadingRetrySpreadPerS: number;
  /**
   * Admissions in flight (upgrades being decided, sessions admitted and not
   * yet said hello) past which an upgrade is answered 503 with a Retry-After
   * booked as the loading ones (admission/upgrade.ts): a master that answers
   * later than its agents wait spends its time on admissions they gave up.
   */
  maxAdmissionsInFlight: number;
  /**
   * An upgrade the master cannot take yet (the view loading, or
   * maxAdmissionsInFlight reached) is held, in arrival order, instead of
   * answered 503 (admission/held-upgrades.ts), for at most this long; then it
   * gets the 503 with its booked Retry-After. Well under the agents' welcome
   * timeout (10 s, counted from their connect, which under load comes seconds
   * before the master reads the request): a held upgrade taken then still has
   * time for its handshake, hello and welcome.
   */
  upgradeHoldMs: number;
  /**
   * Upgrades held at most (0: none, every one refused at once); past it a new
   * one is answered 503 at once. About what the master admits within
   * upgradeHoldMs: one held beyond that would mostly wait its hold out and be
   * refused anyway, later than at once.
   */
  maxHeldUpgrades: number;
  /**
   * While a page or a watch listens, the fleet feed reads the whole registry
   * this often: what other masters and tools outside this package changed
   * shows within it. This master's own sessions and heartbeat writes show at
   * once, registrations and the admin tools' other writes within a second (the
   * admission version). At 10,000 workers one full read costs the dev database
   * about a CPU-second, so once a second took most of a core.
   */
  fleetFullReadMs: number;
  /** Open /api/events streams at most, all admin tokens together (past it: 503), and per admin token (past it: 429). */
  maxEventStreams: number;
  maxEventStreamsPerToken: number;
  /**
   * Failed authentications (upgrades of unknown workers or with wrong tokens;
   * wrong admin credentials) counted per window: past failedAuthPerAddress an
   * address is answered 429 before any work; past failedAuthTotal (all
   * addresses) a failure costs no database read. Upgrades and admin requests
   * are counted apart.
   */
  failedAuthWindowMs: number;
  failedAuthPerAddress: number;
  failedAuthTotal: number;
  /** Days worker events are kept (WORKER_EVENTS' TTL index, or the master's prune where the database has none). */
  eventTtlDays: number;
  /** How often queued worker events are written (one insertMany). */
  eventFlushIntervalMs: number;
  /** Worker events kept in memory at most while the database is slow or down; past it they are dropped and counted. */
  eventQueueMax: number;
}

/** A number an operator may set: its default, its inclusive bounds, and what it does (the CLI's help says this). */
export interface BoundedOption {
  default: number;
  min: number;
  max: number;
  help: string;
}

/**
 * The options an operator sets (`cluster-master serve`): defaults, bounds and
 * help in one place; the CLI's validation and help derive from this table.
 * The cadence bounds are the protocol's: agents refuse a welcome outside them.
 */
export const OPERATOR_OPTIONS = {
  port: { default: 8080, min: 0, max: 65_535, help: 'Listen port, 0 picks one' },
  heartbeatIntervalMs: { default: DEFAULTS.heartbeatIntervalMs, ...CADENCE_LIMITS.heartbeatIntervalMs, help: 'Heartbeat cadence told to agents' },
  heartbeatTimeoutMs: {
    default: DEFAULTS.heartbeatTimeoutMs,
    ...CADENCE_LIMITS.heartbeatTimeoutMs,
    help: 'Silence after which a worker is flagged inactive, >= 2 intervals',
  },
  flushIntervalMs: { default: 1_000, min: 10, max: 60_000, help: 'How often heartbeats are written, one query per flush' },
  helloTimeoutMs: { default: DEFAULTS.helloTimeoutMs, min: 100, max: 600_000, help: 'Time a new connection has to say hello' },
  // At most 5 s: the refresh is what closes a connected worker that was unregistered.
  viewRefreshMs: {
    default: 5_000,
    min: 100,
    max: 5_000,
    help: 'How often the admission version is read (the view is re-read when it changed), at most 5000',
  },
  eventTtlDays: { default: 30, min: 1, max: 3_650, help: 'Days worker events (WORKER_EVENTS) are kept' },
} as const satisfies Record<string, BoundedOption>;

export const SERVER_DEFAULTS: ServerOptions = {
  host: '0.0.0.0',
  port: OPERATOR_OPTIONS.port.default,
  heartbeatIntervalMs: OPERATOR_OPTIONS.heartbeatIntervalMs.default,
  heartbeatTimeoutMs: OPERATOR_OPTIONS.heartbeatTimeoutMs.default,
  flushIntervalMs: OPERATOR_OPTIONS.flushIntervalMs.default,
  helloTimeoutMs: OPERATOR_OPTIONS.helloTimeoutMs.default,
  viewRefreshMs: OPERATOR_OPTIONS.viewRefreshMs.default,
  viewCountCheckMs: 60_000,
  // Ten count checks: a full read of 10,000 workers was 8–9 % of the master's CPU at steady state when it ran every minute.
  viewFullRefreshMs: 600_000,
  checkSourceAddress: true,
  tls: undefined,
  missRefreshMinIntervalMs: 500,
  dnsCacheTtlMs: 30_000,
  livenessTickMs: 0,
  sweepIntervalMs: 0,
  retryBaseMs: 500,
  retryCapMs: 10_000,
  closeGraceMs: 1_000,
  finalFlushTimeoutMs: 2_000,
  handoverGraceMs: 0,
  maxSpecsPerFlush: 100,
  maxHeaderBytes: 8 * 1024,
  maxBodyBytes: 1_024,
  requestTimeoutMs: 10_000,
  refusalLogsPerSecond: 10,
  rateLimitBurst: 20,
  rateLimitPerSecond: 10,
  maxMessageBytes: DEFAULTS.maxMessageBytes,
  maxBufferedBytes: 64 * 1024,
  eventsKeepaliveMs: 15_000,
  fleetGaugeMaxAgeMs: 60_000,
  loadingRetryAfterMs: 2_000,
  loadingRetrySpreadPerS: 1_000,
  maxAdmissionsInFlight: 1_000,
  upgradeHoldMs: 3_000,
  maxHeldUpgrades: 3_000,
  fleetFullReadMs: 60_000,
  maxEventStreams: 100,
  maxEventStreamsPerToken: 10,
  failedAuthWindowMs: 10_000,
  failedAuthPerAddress: 30,
  failedAuthTotal: 100,
  eventTtlDays: OPERATOR_OPTIONS.eventTtlDays.default,
  eventFlushIntervalMs: 1_000,
  eventQueueMax: 20_000,
};

/**
 * The derived sweep interval's cap. A sweep is an updateMany over the whole
 * registry's active workers; on the dev database (no index used) it reads every
 * document, about a second under load at 10,000 workers, so once a second it
 * took a third of the database's time. A worker whose master died is flagged
 * at most this much later than its timeout.
 */
const MAX_DERIVED_SWEEP_INTERVAL_MS = 5_000;

/** Fills in defaults and derived values. */
export function resolveServerOptions(given: Partial<ServerOptions> = {}): ServerOptions {
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<ServerOptions>;
  const options = { ...SERVER_DEFAULTS, ...defined };
  if (options.livenessTickMs <= 0) {
    options.livenessTickMs = Math.max(10, Math.min(250, Math.floor(options.heartbeatTimeoutMs / 6)));
  }
  if (options.sweepIntervalMs <= 0) {
    options.sweepIntervalMs = Math.min(MAX_DERIVED_SWEEP_INTERVAL_MS, Math.max(options.flushIntervalMs, Math.floor(options.heartbeatTimeoutMs / 3)));
  }
  if (options.handoverGraceMs <= 0) {
    options.handoverGraceMs = options.heartbeatIntervalMs + 2 * options.flushIntervalMs + 2_000;
  }
  // Never let the rate limit bite an agent that beats at the cadence we dictate.
  const beatsPerSecond = 1000 / options.heartbeatIntervalMs;
  options.rateLimitPerSecond = Math.max(options.rateLimitPerSecond, Math.ceil(beatsPerSecond * 4));
  return options;
}
