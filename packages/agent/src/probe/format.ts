import type { ProbeReport } from './index.js';

/** The human form of `cluster-agent probe`. */
export function formatProbeReport(r: ProbeReport): string {
  const lines: string[] = [];
  const physical = r.cpu.cores === null ? '' : `    ${r.cpu.cores} core(s) in ${r.cpu.sockets ?? '?'} socket(s)`;
  lines.push(`total_cpu      ${r.specs.total_cpu} logical cores    ${r.cpu.model}${physical}`);
  lines.push(`total_memory   ${r.specs.total_memory} GiB    MemTotal ${r.memory.bytes} bytes`);
  lines.push(`total_storage  ${r.specs.total_storage} GB (10^9 bytes)    ${r.storage.disks.length} disk(s)`);
  for (const d of r.storage.disks) {
    lines.push(`                 + ${d.name}  ${d.size_gb} GB  ${[d.model, d.tran].filter(Boolean).join(', ')}`);
  }
  for (const s of r.storage.skipped) lines.push(`                 - ${s.name}  not counted: ${s.why}`);
  lines.push(`total_gpu      ${r.specs.total_gpu}    found by ${r.gpu.method}`);
  for (const g of r.gpu.devices) {
    const mem = g.memory_mib === null ? 'memory unknown' : `${g.memory_mib} MiB`;
    lines.push(`                 + ${g.bus_id}  ${g.model}  ${mem}`);
  }
  for (const x of r.gpu.excluded) lines.push(`                 - ${x.bus_id}  ${x.model}  not counted: ${x.why}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  lines.push(`(probe took ${r.duration_ms} ms)`);
  return lines.join('\n');
}
