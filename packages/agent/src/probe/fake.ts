import type { Specs } from '@cluster/protocol/agent-side';
import type { Probe, ProbeReport } from './index.js';

/**
 * A probe that reports the specs it was given instead of measuring. For
 * benchmarks and tests that run many agents on one machine (AGENT_FAKE_SPECS);
 * the agent logs a warning at start so nobody mistakes these for measurements.
 */
export function createFakeProbe(specs: Specs): Probe {
  const report: ProbeReport = {
    specs,
    cpu: { total_cpu: specs.total_cpu, model: 'fake (AGENT_FAKE_SPECS)', sockets: null, cores: null },
    memory: { total_memory: specs.total_memory, bytes: Math.round(specs.total_memory * 2 ** 30) },
    storage: { total_storage: specs.total_storage, disks: [], skipped: [] },
    gpu: { total_gpu: specs.total_gpu, method: 'pci-sysfs', devices: [], excluded: [], warnings: [] },
    warnings: ['specs are fake (AGENT_FAKE_SPECS / --fake-specs); this machine was not measured'],
    duration_ms: 0,
  };
  return () => Promise.resolve(structuredClone(report));
}
