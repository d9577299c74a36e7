import { createHash } from 'node:crypto';

/**
 * What the whole hostile suite saw, for its closing summary and secret scan.
 * Everything runs in one vitest file (hostile.test.ts), hence one process, so
 * this module's state is shared by every area without files or IPC.
 */

/** refused: a hostile input got the right refusal; handled: a valid input was served; wrong: neither. */
export type Outcome = 'refused' | 'handled' | 'wrong';

export interface CaseRecord {
  area: string;
  name: string;
  outcome: Outcome;
  detail?: string;
}

export interface TextSource {
  /** Where the text came from, for a hit's report. */
  label: string;
  /** Read at scan time, so sources that keep growing (log arrays) are read whole. */
  read: () => string;
}

class Collector {
  readonly cases: CaseRecord[] = [];
  readonly registryDiffs: string[] = [];
  readonly crashes: string[] = [];
  readonly notes: string[] = [];
  readonly #secrets = new Map<string, string>();
  readonly #sources: TextSource[] = [];
  readonly #cleanups: (() => Promise<void>)[] = [];

  /** Counts one attempt; `ok` says whether it got what the case expects. */
  record(area: string, name: string, ok: boolean, kind: 'refusal' | 'valid' = 'refusal', detail?: string): void {
    const outcome: Outcome = !ok ? 'wrong' : kind === 'refusal' ? 'refused' : 'handled';
    this.cases.push(detail === undefined ? { area, name, outcome } : { area, name, outcome, detail });
  }

  /** Many attempts of one kind at once (connections, fuzz cases). */
  recordMany(area: string, name: string, counts: { refused?: number; handled?: number; wrong?: number }): void {
    for (const [outcome, n] of Object.entries(counts) as [Outcome, number | undefined][]) {
      for (let i = 0; i < (n ?? 0); i++) this.cases.push({ area, name, outcome });
    }
  }

  registryDiff(area: string, diffs: readonly string[]): void {
    for (const d of diffs) this.registryDiffs.push(`${area}: ${d}`);
  }

  crash(what: string): void {
    this.crashes.push(what);
  }

  note(text: string): void {
    this.notes.push(text);
  }

  /** A token issued during the run: the token and its SHA-256 hex must never be printed. */
  token(token: string, label: string): string {
    this.#secrets.set(token, `token of ${label}`);
    this.#secrets.set(createHash('sha256').update(token, 'utf8').digest('hex'), `token hash of ${label}`);
    return token;
  }

  /** Any other secret (a database password), raw and percent-encoded. */
  secret(value: string, label: string): void {
    this.#secrets.set(value, label);
    this.#secrets.set(encodeURIComponent(value), `${label} (percent-encoded)`);
  }

  get secrets(): ReadonlyMap<string, string> {
    return this.#secrets;
  }

  /** Registers text to be scanned for secrets at the end (log lines, CLI output, error messages). */
  source(label: string, read: () => string): void {
    this.#sources.push({ label, read });
  }

  text(label: string, text: string): void {
    this.#sources.push({ label, read: () => text });
  }

  get sources(): readonly TextSource[] {
    return this.#sources;
  }

  /** Which secrets occur in which texts: `label of secret in label of text`. */
  scan(sources: readonly TextSource[] = this.#sources): string[] {
    const hits: string[] = [];
    for (const source of sources) {
      const text = source.read();
      for (const [secret, label] of this.#secrets) if (secret.length >= 8 && text.includes(secret)) hits.push(`${label} in ${source.label}`);
    }
    return hits;
  }

  /** Released at the very end, after the spawned masters were stopped (their databases). */
  cleanup(release: () => Promise<void>): void {
    this.#cleanups.push(release);
  }

  async releaseAll(): Promise<void> {
    for (const release of this.#cleanups.splice(0).reverse()) await release();
  }
}

export const collector = new Collector();
