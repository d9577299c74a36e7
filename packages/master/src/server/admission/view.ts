import { sameSpecs, type Specs } from '@cluster/protocol';
import type { Logger } from 'pino';
import { pickSpecs } from '../../registry/worker.js';
import type { Clock, Timer } from '../clock.js';
import type { DbHealth } from '../db-health.js';
import type { AdmissionCountsPort, AdmissionSnapshotPort, AdmissionVersionPort, CredentialsPort, RegistryPort } from '../ports.js';
import { serializeEntries, type SnapshotEntry } from '../../registry/admission-snapshot.js';

export interface ViewEntry {
  workerIp: string;
  /** sha256 hex of the worker's token; undefined when no credential was issued. */
  tokenHash: string | undefined;
  specs: Specs;
  /** Digest of the document's inventory (`hardware.digest`); undefined: none. */
  hardwareDigest?: string | undefined;
}

export interface AdmissionViewOptions {
  registry: Pick<RegistryPort, 'listAdmissionView'>;
  credentials: CredentialsPort;
  clock: Clock;
  health: DbHealth;
  logger: Logger;
  /** Least time between two refreshes that misses ask for. */
  missRefreshMinIntervalMs: number;
  /**
   * The registry's admission version, which admin writes set anew. With it,
   * check() re-reads the view only when the version changed, the counts
   * moved (below) or fullRefreshMs passed; without it, every check() re-reads the view.
   */
  version?: AdmissionVersionPort | undefined;
  /**
   * How many worker documents and credentials the database holds. With it,
   * check() compares them, at most every countCheckMs, with what the last
   * full read found, and re-reads the view when they differ: a document
   * inserted or deleted outside our tools (no new version) is then seen
   * within countCheckMs instead of fullRefreshMs.
   */
  counts?: AdmissionCountsPort | undefined;
  /** Least time between two count checks. */
  countCheckMs: number;
  /**
   * check() re-reads the view at least this often even when neither the
   * version nor the counts changed: the backstop for edits in place made
   * outside our tools (a token hash or worker_ip set by hand).
   */
  fullRefreshMs: number;
  /**
   * Where the view is kept between a master's runs (registry/admission-snapshot.ts).
   * With it, the first load takes the stored view when it was read at the
   * current admission version (the whole view is read at the first count
   * check, or fullRefreshMs later without counts),
   * and each full read that differs from the stored one stores itself.
   * Needs `version`.
   */
  snapshot?: AdmissionSnapshotPort | undefined;
}

/** Handed to listeners after each successful refresh. */
export interface RefreshResult {
  /** Sequence number of the refresh; a refresh with seq n read the database after every refresh < n started. */
  seq: number;
  entries: ReadonlyMap<string, ViewEntry>;
}

/**
 * The registry as admission sees it, held in memory and replaced in bulk (two
 * queries: the workers and the credentials), so admitting an agent costs no
 * database read. Misses (and refusals that depend on what the view holds) ask
 * for a refresh that starts after they arrived; all of them share it, and such
 * refreshes are spaced at least `missRefreshMinIntervalMs` apart, so a storm of
 * unknown ids costs a bounded number of reads per second, not one per request.
 */
export class AdmissionView {
  #entries: ReadonlyMap<string, ViewEntry> = new Map();
  #loaded = false;
  /** Sequence number of the latest refresh started / completed successfully. */
  #startedSeq = 0;
  #completedSeq = 0;
  #lastStartedAtMs = Number.NEGATIVE_INFINITY;
  /** Monotonic start time and admission version of the latest successful refresh (undefined: none read). */
  #loadedAtMs = Number.NEGATIVE_INFINITY;
  #loadedVersion: string | null | undefined;
  /** What the latest full read found (undefined: the view came from the stored snapshot, or nothing read yet). */
  #loadedCounts: { workers: number; credentials: number } | undefined;
  /** Monotonic time of the latest count check, or of the full read that set #loadedCounts. */
  #countedAtMs = Number.NEGATIVE_INFINITY;
  #checking: Promise<boolean> | undefined;
  #inFlight: Promise<boolean> | undefined;
  #next: Promise<boolean> | undefined;
  #nextTimer: Timer | undefined;
  #wakeNext: (() => void) | undefined;
  #closed = false;
  /** Specs queued for writing, kept over refreshes that read the database before the write landed. */
  readonly #specsOverlay = new Map<string, { specs: Specs; atMs: number }>();
  /** Inventory digests queued for writing, kept over refreshes the same way. */
  readonly #hardwareOverlay = new Map<string, { digest: string; atMs: number }>();
  readonly #listeners: ((result: RefreshResult) => void)[] = [];
  /** The stored view's text, as last read or written: a full read that finds the same stores nothing. */
  #snapshotText: string | undefined;
  #snapshotWrite: Promise<void> | undefined;
  #loadedFromSnapshot = false;

  constructor(private readonly options: AdmissionViewOptions) {}

  get loaded(): boolean {
    return this.#loaded;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Whether the view in memory came from the stored snapshot (no full read since). */
  get fromSnapshot(): boolean {
    return this.#loadedFromSnapshot;
  }

  /** Resolves once the snapshot write a full read started, if any, has ended (for close and tests). */
  async snapshotWritten(): Promise<void> {
    await this.#snapshotWrite;
  }

  /** Sequence number of the latest refresh that has started. */
  get startedSeq(): number {
    return this.#startedSeq;
  }

  get(workerId: string): ViewEntry | undefined {
    return this.#entries.get(workerId);
  }

  /**
   * Records specs just queued for writing, so the next hello (or specs
   * message) with the same values writes nothing, also when a refresh reads
   * the database before the write has landed.
   */
  setSpecs(workerId: string, specs: Specs): void {
    const entry = this.#entries.get(workerId);
    if (entry !== undefined) entry.specs = specs;
    this.#specsOverlay.set(workerId, { specs, atMs: this.options.clock.monotonic() });
  }

  /** Records an inventory just queued for writing: the next hello with the same one writes nothing. */
  setHardwareDigest(workerId: string, digest: string): void {
    const entry = this.#entries.get(workerId);
    if (entry !== undefined) entry.hardwareDigest = digest;
    this.#hardwareOverlay.set(workerId, { digest, atMs: this.options.clock.monotonic() });
  }

  /**
   * The database no longer holds these workers (a heartbeat write matched
   * nothing): admit them no more. Their next upgrade is a miss, read from the
   * database before it is refused, so a re-registration still works at once.
   */
  forget(workerIds: Iterable<string>): void {
    const entries = new Map(this.#entries);
    for (const id of workerIds) entries.delete(id);
    this.#entries = entries;
  }

  onRefresh(listener: (result: RefreshResult) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Reads the whole view now, unless a refresh is in flight (then that one's
   * result). Returns whether it succeeded; failures are reported to DbHealth.
   */
  refresh(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    this.#inFlight ??= this.#load().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  /**
   * The periodic check: reads the admission version (one read by _id) and
   * refreshes when it changed since the view was read, when fullRefreshMs has
   * passed, or when there is no version to read; every countCheckMs it also
   * reads the counts and refreshes when they differ from the last full
   * read's. Resolves true when the view is known to be current (refreshed, or
   * nothing said it changed).
   */
  check(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #check(): Promise<boolean> {
    const { version, fullRefreshMs, clock } = this.options;
    if (this.#inFlight !== undefined) return this.#inFlight;
    if (version === undefined || this.#loadedVersion === undefined || clock.monotonic() - this.#loadedAtMs >= fullRefreshMs) {
      return this.refresh();
    }
    let current: string | null;
    try {
      current = await version.read();
    } catch (error) {
      this.options.health.failure('view', error, undefined);
      return false;
    }
    if (current !== this.#loadedVersion) return this.refresh();
    if (this.options.counts !== undefined && clock.monotonic() - this.#countedAtMs >= this.options.countCheckMs) {
      return this.#checkCounts(this.options.counts);
    }
    this.options.health.success('view');
    return true;
  }

  /**
   * Refreshes when the database holds another number of workers or
   * credentials than the last full read found. Without that read's counts
   * (the view came from the stored snapshot) it refreshes: the snapshot
   * was stored with the version, which hand edits do not move.
   */
  async #checkCounts(counts: AdmissionCountsPort): Promise<boolean> {
    const { clock, logger, health } = this.options;
    this.#countedAtMs = clock.monotonic();
    const read = this.#loadedCounts;
    if (read === undefined) return this.refresh();
    let current: { workers: number; credentials: number };
    try {
      current = await counts.read();
    } catch (error) {
      // Not knowing is no reason to admit from a view that may be old: read it (that reports the database's health).
      logger.warn({ err: error }, 'could not count the registry; reading the admission view instead');
      return this.refresh();
    }
    if (current.workers === read.workers && current.credentials === read.credentials) {
      health.success('view');
      return true;
    }
    logger.info(
      { workers: current.workers, credentials: current.credentials, read_workers: read.workers, read_credentials: read.credentials },
      'the registry holds other counts than the admission view read, with no new admission version (an edit outside cluster-master?): reading the view',
    );
    return this.refresh();
  }

  /**
   * Resolves once a refresh that started after this call has finished (true
   * if it succeeded). Concurrent callers share one refresh.
   */
  async fresh(): Promise<boolean> {
    const needed = this.#startedSeq + 1;
    while (!this.#closed) {
      if (this.#completedSeq >= needed) return true;
      if (this.#inFlight !== undefined && this.#startedSeq >= needed) {
        const ok = await this.#inFlight;
        if (!ok) return false;
        continue;
      }
      this.#next ??= this.#scheduleNext();
      const ok = await this.#next;
      if (!ok) return false;
    }
    return false;
  }

  close(): void {
    this.#closed = true;
    this.options.clock.clearTimeout(this.#nextTimer);
    this.#wakeNext?.();
  }

  async #scheduleNext(): Promise<boolean> {
    // Yield first, so that the caller has stored this promise in #next before
    // the finally below clears it (else a settled promise would stay there).
    await Promise.resolve();
    try {
      if (this.#inFlight !== undefined) await this.#inFlight;
      const waitMs = this.#lastStartedAtMs + this.options.missRefreshMinIntervalMs - this.options.clock.monotonic();
      if (waitMs > 0) {
        await new Promise<void>((resolve) => {
          this.#wakeNext = resolve;
          this.#nextTimer = this.options.clock.setTimeout(resolve, waitMs);
        });
        this.#nextTimer = undefined;
        this.#wakeNext = undefined;
      }
    } finally {
      this.#next = undefined;
    }
    // A periodic refresh may have started meanwhile; joining it serves the waiters as well.
    return this.refresh();
  }

  /** Queued specs win over what a refresh read, until the database shows them (or a minute passed). */
  #applyOverlay(entries: Map<string, ViewEntry>): void {
    const now = this.options.clock.monotonic();
    for (const [id, { specs, atMs }] of this.#specsOverlay) {
      const entry = entries.get(id);
      if (entry === undefined || sameSpecs(entry.specs, specs) || now - atMs > OVERLAY_TTL_MS) {
        this.#specsOverlay.delete(id);
      } else {
        entry.specs = specs;
      }
    }
    for (const [id, { digest, atMs }] of this.#hardwareOverlay) {
      const entry = entries.get(id);
      if (entry === undefined || entry.hardwareDigest === digest || now - atMs > OVERLAY_TTL_MS) {
        this.#hardwareOverlay.delete(id);
      } else {
        entry.hardwareDigest = digest;
      }
    }
  }

  async #load(): Promise<boolean> {
    const seq = ++this.#startedSeq;
    const startedAtMs = this.options.clock.monotonic();
    this.#lastStartedAtMs = startedAtMs;
    try {
      // Read before the view: a change whose new version this read missed is
      // in the view already, or its version differs from this one at the next check.
      const version = await this.options.version?.read();
      const stored = this.#loaded ? undefined : await this.#readSnapshot(version);
      let entries: Map<string, ViewEntry>;
      let counts: { workers: number; credentials: number } | undefined;
      if (stored !== undefined) {
        entries = stored;
        this.#loadedFromSnapshot = true;
      } else {
        ({ entries, counts } = await this.#readAll(version));
        this.#loadedFromSnapshot = false;
      }
      this.#applyOverlay(entries);
      this.#entries = entries;
      this.#loaded = true;
      if (seq > this.#completedSeq) {
        this.#loadedVersion = version;
        this.#loadedAtMs = startedAtMs;
        this.#loadedCounts = counts;
        this.#countedAtMs = startedAtMs;
      }
      this.#completedSeq = Math.max(this.#completedSeq, seq);
      this.options.health.success('view');
      for (const listener of this.#listeners) listener({ seq, entries });
      return true;
    } catch (error) {
      this.options.health.failure('view', error, undefined);
      return false;
    }
  }

  /**
   * The two queries: every worker and every credential. Stores what it read when that differs from the stored view.
   * The counts are of what the queries returned (a credential the store skips as malformed is not counted:
   * the count check then finds a difference each time and reads the view at every check, as before it existed).
   */
  async #readAll(version: string | null | undefined): Promise<{ entries: Map<string, ViewEntry>; counts: { workers: number; credentials: number } }> {
    const [records, credentials] = await Promise.all([
      this.options.registry.listAdmissionView(),
      this.options.credentials.loadAll(),
    ]);
    const entries = new Map<string, ViewEntry>();
    const rows: SnapshotEntry[] = [];
    for (const r of records) {
      const credential = credentials.get(r.worker_id);
      // A credential issued for an earlier document of this id (deleted, inserted again) admits nobody.
      const bound = credential !== undefined && (credential.registration ?? r.registration) === r.registration;
      const tokenHash = bound ? credential.tokenHash : undefined;
      const specs = pickSpecs(r);
      entries.set(r.worker_id, { workerIp: r.worker_ip, tokenHash, specs, hardwareDigest: r.hardwareDigest });
      if (this.options.snapshot !== undefined) {
        rows.push([r.worker_id, r.worker_ip, tokenHash ?? null, specs.total_cpu, specs.total_memory, specs.total_storage, specs.total_gpu, r.hardwareDigest ?? null]);
      }
    }
    // Before the overlay: the stored view holds what the database holds, never a write that may yet be lost.
    if (typeof version === 'string') this.#storeSnapshot(version, rows);
    return { entries, counts: { workers: records.length, credentials: credentials.size } };
  }

  /** The stored view when it was read at `version` (no admin write since); undefined: read the database. */
  async #readSnapshot(version: string | null | undefined): Promise<Map<string, ViewEntry> | undefined> {
    const { snapshot, logger } = this.options;
    if (snapshot === undefined || typeof version !== 'string') return undefined;
    let stored;
    try {
      stored = await snapshot.read();
    } catch (error) {
      // Only an accelerator: the full read that follows says whether the database is there.
      logger.warn({ err: error }, 'stored admission view unreadable; reading the registry');
      return undefined;
    }
    if (stored === null || stored.version !== version) return undefined;
    const entries = new Map<string, ViewEntry>();
    for (const [id, workerIp, tokenHash, total_cpu, total_memory, total_storage, total_gpu, digest] of stored.entries) {
      entries.set(id, {
        workerIp,
        tokenHash: tokenHash ?? undefined,
        specs: { total_cpu, total_memory, total_storage, total_gpu },
        hardwareDigest: digest ?? undefined,
      });
    }
    this.#snapshotText = serializeEntries(stored.entries);
    logger.info({ workers: entries.size, written_at: stored.writtenAt }, 'admission view taken from the stored snapshot');
    return entries;
  }

  /**
   * At a clean close, once every queued spec and inventory write has landed:
   * stores the view as it stands (the last read plus those writes), so the
   * next master does not write again what this one just wrote. Only when the
   * view was read at a version (it is stored with it) and differs from the stored one.
   */
  async storeAtClose(): Promise<void> {
    const { snapshot, logger } = this.options;
    await this.#snapshotWrite;
    const version = this.#loadedVersion;
    if (snapshot === undefined || !this.#loaded || typeof version !== 'string') return;
    const rows: SnapshotEntry[] = [];
    for (const [id, e] of this.#entries) {
      rows.push([id, e.workerIp, e.tokenHash ?? null, e.specs.total_cpu, e.specs.total_memory, e.specs.total_storage, e.specs.total_gpu, e.hardwareDigest ?? null]);
    }
    const text = serializeEntries(sortedById(rows));
    if (text === this.#snapshotText) return;
    try {
      await snapshot.write(version, text, rows.length);
      this.#snapshotText = text;
    } catch (error) {
      logger.warn({ err: error }, 'could not store the admission view at close; the next master reads the registry or an older stored view');
    }
  }

  #storeSnapshot(version: string, rows: SnapshotEntry[]): void {
    const { snapshot, logger } = this.options;
    if (snapshot === undefined || this.#closed || this.#snapshotWrite !== undefined) return;
    const text = serializeEntries(sortedById(rows));
    if (text === this.#snapshotText) return;
    this.#snapshotWrite = snapshot
      .write(version, text, rows.length)
      .then(
        () => {
          this.#snapshotText = text;
        },
        (error: unknown) => {
          // At close the client may go first: nothing to tell then.
          if (!this.#closed) logger.warn({ err: error }, 'could not store the admission view; a restart reads the registry instead');
        },
      )
      .finally(() => {
        this.#snapshotWrite = undefined;
      });
  }
}

const OVERLAY_TTL_MS = 60_000;

/** Sorted by worker_id: the same view gives the same text whatever order the database returned it in. */
function sortedById(rows: SnapshotEntry[]): SnapshotEntry[] {
  return rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
