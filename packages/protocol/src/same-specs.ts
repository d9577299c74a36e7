import type { Specs } from './messages.js';

/**
 * Whether two spec sets carry the same values. The agent uses it to decide
 * whether a new probe is worth a `specs` message, the master whether a hello
 * needs a registry write: both must agree on what "changed" means.
 */
export function sameSpecs(a: Specs, b: Specs): boolean {
  return (
    a.total_cpu === b.total_cpu &&
    a.total_memory === b.total_memory &&
    a.total_storage === b.total_storage &&
    a.total_gpu === b.total_gpu
  );
}
