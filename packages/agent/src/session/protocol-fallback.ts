import { PROTOCOL_VERSION, previousProtocolVersion, type ProtocolVersion } from '@cluster/protocol/agent-side';

/**
 * Which protocol version the agent speaks to each master. It starts with the
 * newest; a master that refuses it for its version before any welcome (HTTP
 * 426, or close 4426: a master of an older release) is tried again at once
 * with the next older version this agent speaks, down to the oldest. A
 * session that was welcomed and ended (the master may have been upgraded
 * while it restarted) and a refusal of the oldest version start again from
 * the newest, so an upgraded master is spoken to in its newest version at the
 * next reconnect. With an old master that costs one refused upgrade per
 * reconnect, nothing per heartbeat.
 */
export class ProtocolVersions {
  readonly #byUrl = new Map<string, ProtocolVersion>();

  versionFor(url: string): ProtocolVersion {
    return this.#byUrl.get(url) ?? PROTOCOL_VERSION;
  }

  /** `url` refused `version` before welcoming: the version to try next (at once), or undefined when none is older. */
  refused(url: string, version: ProtocolVersion): ProtocolVersion | undefined {
    const previous = previousProtocolVersion(version);
    if (previous === undefined) this.#byUrl.delete(url);
    else this.#byUrl.set(url, previous);
    return previous;
  }

  /** A welcomed session with `url` ended: its next connection speaks the newest version again. */
  sessionEnded(url: string): void {
    this.#byUrl.delete(url);
  }
}
