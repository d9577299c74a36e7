/**
 * Reads the master's /metrics (Prometheus text format) into a flat map:
 * `name{label="v",…}` → value. Only what the benchmark needs: no types,
 * no escaping beyond what prom-client emits for our label values.
 */
export type MetricSnapshot = Map<string, number>;

export async function scrape(port: number, timeoutMs = 5_000): Promise<MetricSnapshot> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
  return parseMetrics(await response.text());
}

export function parseMetrics(text: string): MetricSnapshot {
  const out: MetricSnapshot = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    if (space <= 0) continue;
    const value = Number(line.slice(space + 1));
    if (Number.isFinite(value)) out.set(line.slice(0, space), value);
  }
  return out;
}

/** Sum of every series of `name` whose labels include all of `labels`. */
export function metric(snapshot: MetricSnapshot | undefined, name: string, labels: Record<string, string> = {}): number {
  if (snapshot === undefined) return 0;
  let sum = 0;
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const [key, value] of snapshot) {
    const brace = key.indexOf('{');
    const base = brace === -1 ? key : key.slice(0, brace);
    if (base !== name) continue;
    if (wanted.every((w) => key.includes(w))) sum += value;
  }
  return sum;
}

/** metric(b) - metric(a), for counters and histogram sums/counts. */
export function delta(a: MetricSnapshot | undefined, b: MetricSnapshot | undefined, name: string, labels: Record<string, string> = {}): number {
  return metric(b, name, labels) - metric(a, name, labels);
}

export async function readyz(port: number): Promise<number | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return undefined;
  }
}
