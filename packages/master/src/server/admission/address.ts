import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Clock } from '../clock.js';

/**
 * The form in which addresses are compared: lower case, IPv4-mapped IPv6
 * (`::ffff:10.0.0.1`, what a dual-stack listener reports) as plain IPv4.
 */
export function normaliseAddress(address: string): string {
  const lower = address.trim().toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  return mapped?.[1] ?? lower;
}

/** Resolves a host name to all its addresses. */
export type LookupAll = (host: string) => Promise<string[]>;

export const systemLookupAll: LookupAll = async (host) => {
  const results = await dnsLookup(host, { all: true, verbatim: true });
  return results.map((r) => r.address);
};

interface CacheEntry {
  expiresAtMs: number;
  addresses: Promise<ReadonlySet<string>>;
}

/**
 * Answers "may a connection from `remote` speak for a worker registered at
 * `workerIp`?". worker_ip is an IP address or a host name; host names are
 * resolved (all addresses) and cached for `ttlMs`, so a reconnect storm does
 * not become a DNS storm. A failed lookup matches nothing and is cached too.
 */
export class AddressMatcher {
  readonly #cache = new Map<string, CacheEntry>();

  constructor(
    private readonly lookup: LookupAll,
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {}

  async matches(workerIp: string, remote: string): Promise<boolean> {
    const want = normaliseAddress(remote);
    const registered = normaliseAddress(workerIp);
    if (isIP(registered) !== 0) return registered === want;
    const resolved = await this.#resolve(registered);
    return resolved.has(want);
  }

  #resolve(host: string): Promise<ReadonlySet<string>> {
    const now = this.clock.monotonic();
    const cached = this.#cache.get(host);
    if (cached !== undefined && cached.expiresAtMs > now) return cached.addresses;
    if (this.#cache.size > 10_000) this.#cache.clear();
    const addresses = this.lookup(host).then(
      (list) => new Set(list.map(normaliseAddress)) as ReadonlySet<string>,
      () => new Set<string>() as ReadonlySet<string>,
    );
    this.#cache.set(host, { expiresAtMs: now + this.ttlMs, addresses });
    return addresses;
  }
}
