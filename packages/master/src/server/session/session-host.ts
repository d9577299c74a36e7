import { CloseCode, closeCodeName, sameSpecs, type Hardware, type Heartbeat, type Hello, type Specs } from '@cluster/protocol';
import type { Logger } from 'pino';
import type { InactiveCause, MasterMetrics } from '../../metrics/metrics.js';
import { hardwareDigest } from '../../registry/hardware-document.js';
import { printableForLog } from '../../printable.js';
import type { AgentSession, SessionClosed, SessionEndCause, SessionEvents } from './agent-session.js';
import type { AdmissionView } from '../admission/view.js';
import type { HeartbeatWriter } from '../writes/heartbeat-writer.js';
import type { LivenessTracker } from '../liveness/rules.js';
import { SessionTable } from './session-table.js';
import type { WorkerHistory } from '../../history/worker-history.js';
import { inventorySummary } from '../../history/inventory-summary.js';

export interface SessionHostDeps {
  view: AdmissionView;
  writer: HeartbeatWriter;
  liveness: LivenessTracker;
  metrics: MasterMetrics;
  logger: Logger;
  /** The worker history (none without a database). */
  history?: WorkerHistory | undefined;
}

/**
 * Ends by the master that flag the worker at once: the agent is told to go
 * (credential changed) or broke the protocol. Replaced, shutdown and
 * unregistered are handled apart; an unanswered ping, backpressure and the
 * heartbeat timeout look like a network fault and are left to the timeout.
 */
const FLAGS_AT_ONCE: ReadonlySet<SessionEndCause> = new Set<SessionEndCause>([
  'unauthorized',
  'address_changed',
  'protocol',
  'hello_timeout',
]);

/**
 * What the master does with what sessions report: the registry of live
 * sessions (one per worker), the writer's pending sets, the liveness tracker.
 *
 * How a session's end affects the worker:
 * - the agent closes cleanly (1000/1001) the current session: inactive at the
 *   next flush, its pending heartbeat dropped;
 * - replaced by a newer session, master shutting down: nothing (the agent is
 *   connected elsewhere or will be);
 * - unregistered: nothing more is written for it;
 * - the master ends it for a credential change or a protocol violation:
 *   inactive at the next flush, as after a clean close (no other session of
 *   the worker remains, and the master knows the agent is gone);
 * - anything else (network cut, killed or hung agent): nothing now; the
 *   liveness timeout flags it unless the agent comes back in time.
 */
export class SessionHost implements SessionEvents {
  readonly sessions = new SessionTable<AgentSession>();
  /** Specs set in the admission view from a hello or a specs message so far (the fleet feed compares specs only when this moved). */
  specsSet = 0;
  /** Every open session, including those still waiting for their hello. */
  readonly open = new Set<AgentSession>();
  /**
   * The one session of each worker admitted and still waiting for its hello.
   * At most one: the admissions in flight are bounded (upgrade.ts #busy), and
   * without this one valid credential could hold the whole bound with
   * connections that never say hello, turning every other agent away for a
   * hello timeout at a time. An agent that opens a second connection has given
   * up on the first.
   */
  readonly #awaitingHello = new Map<string, AgentSession>();
  readonly #admissionEndedListeners: (() => void)[] = [];

  constructor(private readonly deps: SessionHostDeps) {}

  /** A socket passed admission: an older connection of its worker still waiting for its hello is closed. */
  attach(session: AgentSession): void {
    this.open.add(session);
    const older = this.#awaitingHello.get(session.workerId);
    this.#awaitingHello.set(session.workerId, session);
    older?.close(CloseCode.replaced, 'replaced by a newer connection', 'replaced');
  }

  /**
   * Called whenever an admitted session stops counting as an admission in
   * flight (it said hello, or closed before): a held upgrade may go on then
   * (admission/upgrade.ts takeHeld).
   */
  onAdmissionEnded(listener: () => void): void {
    this.#admissionEndedListeners.push(listener);
  }

  #helloDone(session: AgentSession): void {
    if (this.#awaitingHello.get(session.workerId) === session) this.#awaitingHello.delete(session.workerId);
  }

  #admissionEnded(): void {
    for (const listener of this.#admissionEndedListeners) listener();
  }

  onHello(session: AgentSession, hello: Hello): void {
    const { writer, liveness, metrics, logger } = this.deps;
    this.#helloDone(session);
    const previous = this.sessions.claim(session);
    previous?.close(CloseCode.replaced, 'replaced by a newer connection', 'replaced');
    writer.admit(session.workerId);
    liveness.admitted(session);
    this.deps.history?.admittedAgain(session.workerId);
    this.deps.history?.record(session.workerId, 'admitted', previous === undefined ? null : 'replaced_session', {
      address: session.address,
      agent_version: printableForLog(hello.agent_version) ?? null,
      protocol_version: hello.protocol_version,
    });
    // Queued whatever the view says: a hand edit of the document since the view's last read is
    // corrected now (the write changes only a document that differs, see updateSpecs).
    const specsChanged = this.#applySpecs(session.workerId, hello.specs, true);
    // Unlike the specs, an inventory is written only when its digest differs from the view's: each
    // worker's is its own statement (UUIDs differ), so a reconnect storm must not queue 10,000 of them.
    const hardwareChanged = this.#applyHardware(session.workerId, 'hardware' in hello ? hello.hardware : undefined);
    metrics.connectedAgents.set(this.sessions.size);
    logger.info(
      {
        worker_id: session.workerId,
        address: session.address,
        agent_version: printableForLog(hello.agent_version),
        specs_changed: specsChanged,
        protocol_version: hello.protocol_version,
        hardware_changed: hardwareChanged,
        replaced: previous !== undefined,
      },
      'admitted',
    );
    this.#admissionEnded();
  }

  onHeartbeat(session: AgentSession, _heartbeat: Heartbeat): void {
    this.deps.metrics.heartbeatReceived();
    if (!this.sessions.isCurrent(session)) return;
    this.deps.writer.heartbeat(session.workerId);
    this.deps.liveness.seen(session);
  }

  onSpecs(session: AgentSession, specs: Specs, hardware: Hardware | undefined): void {
    if (!this.sessions.isCurrent(session)) return;
    this.deps.liveness.seen(session);
    if (this.#applySpecs(session.workerId, specs)) {
      this.deps.logger.info({ worker_id: session.workerId, specs }, 'specs changed');
    }
    if (this.#applyHardware(session.workerId, hardware)) {
      this.deps.logger.info({ worker_id: session.workerId, gpus: hardware?.gpus.length }, 'hardware inventory changed');
    }
  }

  onClosed(session: AgentSession, closed: SessionClosed): void {
    this.open.delete(session);
    this.#helloDone(session);
    const { workerId } = session;
    const wasCurrent = this.sessions.release(session);
    this.deps.metrics.connectedAgents.set(this.sessions.size);
    this.deps.logger.info(
      {
        worker_id: workerId,
        address: session.address,
        code: closed.code,
        close: closeCodeName(closed.code),
        // The agent's close reason is its own text: escaped and bounded.
        reason: printableForLog(closed.reason || undefined),
        cause: closed.cause,
      },
      'disconnected',
    );
    if (wasCurrent || closed.cause === 'replaced') {
      this.deps.history?.record(workerId, 'disconnected', disconnectCause(closed), {
        code: closed.code,
        reason: printableForLog(closed.reason || undefined) ?? null,
      });
    }
    // A session that had not said hello was one of the admissions in flight.
    if (!wasCurrent) {
      this.#admissionEnded();
      return;
    }
    const agentSaidGoodbye =
      closed.cause === undefined && (closed.code === CloseCode.normal || closed.code === CloseCode.goingAway);
    if (agentSaidGoodbye) {
      this.deps.liveness.forget(workerId);
      this.flagInactive([workerId], 'clean_close');
    } else if (closed.cause !== undefined && FLAGS_AT_ONCE.has(closed.cause)) {
      this.deps.liveness.forget(workerId);
      this.flagInactive([workerId], 'master_close');
    } else if (closed.cause === 'unregistered') {
      this.deps.liveness.forget(workerId);
      this.deps.writer.forget(workerId);
    } else {
      // Its agent may be dead: the timeout goes on counting from its last message.
      this.deps.liveness.ended(session);
    }
  }

  /** Queues the workers as inactive, counts and logs them. */
  flagInactive(workerIds: string[], cause: Exclude<InactiveCause, 'sweep'>): void {
    if (workerIds.length === 0) return;
    this.deps.history?.flagRaised(workerIds, cause);
    this.deps.writer.markInactive(workerIds);
    this.deps.metrics.workersFlaggedInactive.inc({ cause }, workerIds.length);
    this.deps.logger.info({ cause, count: workerIds.length, worker_ids: workerIds.slice(0, 100) }, 'workers flagged inactive');
  }

  /**
   * The hand-over's flag: written at once and counted by what it changed (a
   * worker another master took over stays active and is not counted); `queued`
   * is logged too when it differs. If the write fails the flags wait for the
   * final flush like any other, and are counted as queued.
   */
  async flagHandedOver(workerIds: string[]): Promise<void> {
    if (workerIds.length === 0) return;
    this.deps.history?.flagRaised(workerIds, 'handover');
    const changed = await this.deps.writer.flagCounted(workerIds);
    const count = changed ?? workerIds.length;
    if (count > 0) this.deps.metrics.workersFlaggedInactive.inc({ cause: 'handover' }, count);
    const queued = count === workerIds.length ? {} : { queued: workerIds.length };
    this.deps.logger.info(
      { cause: 'handover', count, ...queued, ...(changed === undefined ? { written: false } : {}), worker_ids: workerIds.slice(0, 100) },
      'workers flagged inactive',
    );
  }

  /** Closes the current sessions of these workers (unregistered, credential changed). */
  closeWorkers(workerIds: Iterable<string>, code: number, reason: string, cause: SessionEndCause): void {
    for (const id of workerIds) this.sessions.get(id)?.close(code, reason, cause);
  }

  /** True when the inventory's digest differs from the view's; then it is queued for writing and the view updated. */
  #applyHardware(workerId: string, hardware: Hardware | undefined): boolean {
    if (hardware === undefined) return false;
    const digest = hardwareDigest(hardware);
    const before = this.deps.view.get(workerId)?.hardwareDigest;
    if (before === digest) return false;
    this.deps.history?.changeSeen(workerId, 'hardware', { from: before ?? null, to: digest, ...inventorySummary(hardware) });
    this.deps.writer.queueHardware({ worker_id: workerId, hardware, digest });
    this.deps.view.setHardwareDigest(workerId, digest);
    return true;
  }

  /** True when the specs differ from the view's; then (or always, with `evenIfSame`) they are queued for writing and the view updated. */
  #applySpecs(workerId: string, specs: Specs, evenIfSame = false): boolean {
    const entry = this.deps.view.get(workerId);
    const changed = entry === undefined || !sameSpecs(entry.specs, specs);
    if (!changed && !evenIfSame) return false;
    if (changed) this.deps.history?.changeSeen(workerId, 'specs', { from: entry?.specs ?? null, to: specs });
    this.deps.writer.queueSpecs(workerId, specs);
    this.deps.view.setSpecs(workerId, specs);
    this.specsSet += 1;
    return changed;
  }
}

/** A disconnected event's cause: the master's reason for ending the session, else what the close says of the agent's side. */
function disconnectCause(closed: SessionClosed): string {
  if (closed.cause !== undefined) return closed.cause;
  if (closed.code === CloseCode.normal || closed.code === CloseCode.goingAway) return 'clean_close';
  // 1006: no close frame, the connection just ended (agent killed, network cut).
  if (closed.code === 1006) return 'connection_lost';
  return closeCodeName(closed.code);
}
