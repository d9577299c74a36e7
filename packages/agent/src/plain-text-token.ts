import { isIP } from 'node:net';

/** Whether a host name or address stays on this machine (a token sent there crosses no network). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost' || bare.toLowerCase().endsWith('.localhost')) return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || /^::ffff:127\./i.test(bare);
  return false;
}

/**
 * The master URLs to which the agent would send its token in plain text:
 * ws:// to a host that is not this machine. The agent warns once for them at
 * start (anyone on the path can read the token and connect as this worker);
 * it still connects, since a private network may be the admin's choice.
 */
export function plainTextTokenUrls(masterUrls: readonly string[]): string[] {
  return masterUrls.filter((url) => {
    try {
      const parsed = new URL(url);
      return parsed.protocol === 'ws:' && !isLoopbackHost(parsed.hostname);
    } catch {
      return false;
    }
  });
}
