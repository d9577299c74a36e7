/**
 * The loopback address a simulated agent connects from, and the worker_ip it is registered with.
 *
 * A real fleet's agents connect from as many machines, each with its own ephemeral ports. All from
 * 127.0.0.1, 19,000 simulated agents hold ~19,000 of its 28,232 ephemeral ports (32768–60999)
 * before any reconnect, and every connect() in a storm then searches a nearly full port range in
 * the kernel: measured on the 2-core development machine, 1.17 ms of CPU per connect with
 * 16,000 of 127.0.0.1's ports taken against 0.04 ms from another 127/8 address — at ~30,000 attempts
 * most of the simulators' CPU in the storm, a cost no real agent pays. Linux answers on all of
 * 127.0.0.0/8, so each agent gets its own address there; the master checks it against worker_ip as
 * it checks a real worker's (checkSourceAddress), a string compare either way.
 */
export function fleetSourceAddress(workerId: string): string {
  // FNV-1a: a fixed, spread mapping; two agents sharing an address only share its ports.
  let h = 0x811c9dc5;
  for (let i = 0; i < workerId.length; i++) {
    h ^= workerId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // 127.1.0.1 – 127.254.255.254: never 127.0.x.x (127.0.0.1 is the master's, the real agents'), no .0 or .255.
  const a = 1 + (h % 254);
  const b = (h >>> 8) & 0xff;
  const c = 1 + ((h >>> 16) % 254);
  return `127.${a}.${b}.${c}`;
}
