import { isIP } from 'node:net';
import type { Worker } from '../../registry/worker.js';
import { quote } from '../../printable.js';
import { BadQueryError } from './worker-query.js';

/** One target group of Prometheus's HTTP service discovery (http_sd_configs). */
export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** `port` of /api/sd: the exporter's port on every worker (node_exporter's 9100 when absent). */
export function sdPort(params: URLSearchParams): number {
  const values = params.getAll('port');
  for (const name of params.keys()) if (name !== 'port') throw new BadQueryError(`unknown parameter ${quote(name, 40)}; known: port`);
  if (values.length > 1) throw new BadQueryError('give port once');
  if (values.length === 0) return 9100;
  const text = values[0] ?? '';
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 1 && port <= 65_535)) throw new BadQueryError('port needs a whole number from 1 to 65535');
  return port;
}

/** `host:port`, with an IPv6 address in brackets as Prometheus expects. */
function target(ip: string, port: number): string {
  return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/**
 * One group per active worker, so each target carries its own labels
 * (Prometheus wants label values as strings). Inactive workers are left out:
 * Prometheus scrapes exactly the machines the registry knows are up.
 */
export function targetGroups(workers: readonly Worker[], port: number): TargetGroup[] {
  return workers
    .filter((worker) => worker.is_active)
    .map((worker) => ({
      targets: [target(worker.worker_ip, port)],
      labels: {
        worker_id: worker.worker_id,
        worker_ip: worker.worker_ip,
        cpus: String(worker.total_cpu),
        memory_gib: String(worker.total_memory),
        storage_gb: String(worker.total_storage),
        gpus: String(worker.total_gpu),
        // From the inventory (agents 0.2+): the most numerous GPU model, and the architecture; absent when unknown.
        ...inventoryLabels(worker),
      },
    }));
}

/** `gpu_model` (the model most of the worker's GPUs have) and `arch`, each only when the inventory says. */
function inventoryLabels(worker: Worker): { gpu_model?: string; arch?: string } {
  const counts = new Map<string, number>();
  for (const gpu of worker.hardware?.gpus ?? []) if (gpu.model !== null) counts.set(gpu.model, (counts.get(gpu.model) ?? 0) + 1);
  let best: string | undefined;
  let most = 0;
  for (const [model, n] of counts) if (n > most) [best, most] = [model, n];
  const arch = worker.hardware?.host.arch ?? null;
  return { ...(best === undefined ? {} : { gpu_model: best }), ...(arch === null ? {} : { arch }) };
}
