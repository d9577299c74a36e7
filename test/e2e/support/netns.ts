import { spawnSync } from 'node:child_process';
import { runToEnd } from './processes.js';

/** Namespaces created and not yet deleted; deleted at exit, should the test process end early. */
const live = new Set<string>();
process.once('exit', () => {
  for (const name of live) spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore', timeout: 5_000 });
});

/**
 * A network namespace joined to the host by a veth pair, with a private /30
 * of its own: the host end gets .1, the namespace end .2. Nothing else is
 * addressed or routed; traffic flows only between the two ends.
 */
export interface Netns {
  name: string;
  hostIf: string;
  nsIf: string;
  hostAddress: string;
  nsAddress: string;
  /** Takes the host end down (the cable is cut) or up again. */
  setLink(up: boolean): Promise<void>;
  /** Deletes the namespace (and with it the veth pair). Safe to call twice. */
  destroy(): Promise<void>;
}

async function ip(args: readonly string[]): Promise<void> {
  const result = await runToEnd('ip', args, process.env, 10_000);
  if (result.code !== 0) throw new Error(`ip ${args.join(' ')}: ${result.stderr.trim() || `exit ${result.code}`}`);
}

async function addressInUse(prefix: string): Promise<boolean> {
  const result = await runToEnd('ip', ['-o', '-4', 'addr', 'show'], process.env, 10_000).catch(() => undefined);
  return result?.stdout.includes(` ${prefix}.`) ?? false;
}

/**
 * Creates the namespace and the pair, or explains why no namespace can be
 * created here (not root, no CAP_SYS_ADMIN, no iproute2): the caller skips
 * with that reason. Anything that fails after that is an error.
 */
export async function createNetns(): Promise<{ ok: true; netns: Netns } | { ok: false; reason: string }> {
  // The pid makes the names this process's own (at most 15 characters); a
  // namespace of that name left behind belongs to a dead process with the same pid.
  const tag = `cwr${process.pid}`;
  const name = `${tag}ns`;
  const hostIf = `${tag}h`;
  const nsIf = `${tag}n`;
  let destroyed: Promise<void> | undefined;
  const destroy = (): Promise<void> => {
    destroyed ??= (async () => {
      await runToEnd('ip', ['netns', 'del', name], process.env, 10_000).catch(() => undefined);
      live.delete(name);
      await runToEnd('ip', ['link', 'del', hostIf], process.env, 10_000).catch(() => undefined);
    })();
    return destroyed;
  };

  await destroy();
  destroyed = undefined;
  try {
    await ip(['netns', 'add', name]);
    live.add(name);
  } catch (error) {
    return { ok: false, reason: `cannot create a network namespace (${error instanceof Error ? error.message : String(error)}); this needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2` };
  }
  let octet = (process.pid % 200) + 20;
  for (let tries = 0; tries < 20 && (await addressInUse(`10.213.${octet}`)); tries++) octet = 20 + ((octet - 19) % 200);
  const hostAddress = `10.213.${octet}.1`;
  const nsAddress = `10.213.${octet}.2`;
  try {
    await ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', name]);
    await ip(['addr', 'add', `${hostAddress}/30`, 'dev', hostIf]);
    await ip(['link', 'set', hostIf, 'up']);
    await ip(['-n', name, 'addr', 'add', `${nsAddress}/30`, 'dev', nsIf]);
    await ip(['-n', name, 'link', 'set', nsIf, 'up']);
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (error) {
    // A namespace could be created, so this is a failure, not a reason to skip.
    await destroy();
    throw error;
  }
  return {
    ok: true,
    netns: {
      name,
      hostIf,
      nsIf,
      hostAddress,
      nsAddress,
      setLink: (up) => ip(['link', 'set', hostIf, up ? 'up' : 'down']),
      destroy,
    },
  };
}
