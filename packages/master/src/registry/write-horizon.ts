import type { Collection, Db } from 'mongodb';
import { describeHosts, guard } from './driver-errors.js';

/**
 * How far each running master has written its workers' heartbeats, so that
 * one master's stale sweep never flags the workers of another that is alive
 * but behind (its heartbeat write waiting on a slow or overloaded database).
 *
 * Every master, after each heartbeat write that succeeded, records the time
 * that write stood for (`written_as_of`) and when it said so
 * (`published_at`). A sweep judges last_heartbeat against the oldest
 * `written_as_of` of the masters heard from within the heartbeat timeout
 * (its own write aside): a worker of a master that is behind has a last_heartbeat
 * no older than that master's last write. A master that died stops
 * publishing; after one timeout it no longer holds the others back, which is
 * also when its workers' timeout runs out, so they are flagged no later than
 * before. A master that stops cleanly withdraws its entry.
 */
export interface WriteHorizon {
  /** One upsert by _id. */
  publish(instanceId: string, writtenAsOfMs: number, nowMs: number): Promise<void>;
  /**
   * The other masters' entries published at or after `liveSinceMs`: how many,
   * and the oldest written_as_of among them (epoch ms; undefined if none).
   * One find (a handful of small documents).
   */
  othersLive(liveSinceMs: number, exceptId: string): Promise<LiveMasters>;
  /**
   * Removes this master's entry (clean stop, or it serves nobody now) and any
   * entry not published since `staleBeforeMs` (masters long gone), and notes
   * the time of the withdrawal (WITHDRAWALS_ID): the flags such a master wrote
   * as it went are news to those who read the registry only while a master
   * serves (full-read-cadence.ts).
   */
  withdraw(instanceId: string, staleBeforeMs: number, nowMs: number): Promise<void>;
  /**
   * How many masters other than `exceptId` published since `sinceMs`, plus
   * one if any master withdrew since then: whether masters wrote the registry
   * lately. One find (a handful of small documents).
   */
  activitySince(sinceMs: number, exceptId: string): Promise<number>;
}

/**
 * The one document of the collection that is not a master's entry: when a
 * master last withdrew. It has no published_at, so othersLive and the stale
 * clean-up pass it by.
 */
export const WITHDRAWALS_ID = 'withdrawals';

/** Created by the first publish (an upsert); a handful of documents, found by _id or a scan. */
export const WRITE_HORIZON_COLLECTION = 'MASTER_WRITE_HORIZON';

export interface LiveMasters {
  count: number;
  oldestWrittenAsOfMs: number | undefined;
}

interface HorizonDocument {
  _id: string;
  written_as_of: Date;
  published_at: Date;
  last_withdrawn_at?: Date;
}

export function createWriteHorizon(db: Db, options: { describeDatabase?: string } = {}): WriteHorizon {
  const where = options.describeDatabase ?? describeHosts(db);
  const entries: Collection<HorizonDocument> = db.collection<HorizonDocument>(WRITE_HORIZON_COLLECTION);
  return {
    async publish(instanceId, writtenAsOfMs, nowMs) {
      await guard(where, () =>
        entries.updateOne({ _id: instanceId }, { $set: { written_as_of: new Date(writtenAsOfMs), published_at: new Date(nowMs) } }, { upsert: true }),
      );
    },
    async othersLive(liveSinceMs, exceptId) {
      const live = await guard(where, () =>
        entries.find({ published_at: { $gte: new Date(liveSinceMs) }, _id: { $ne: exceptId } }, { projection: { written_as_of: 1 } }).toArray(),
      );
      const times = live.map((e) => e.written_as_of).filter((at) => at instanceof Date && !Number.isNaN(at.getTime())).map((at) => at.getTime());
      return { count: live.length, oldestWrittenAsOfMs: times.length === 0 ? undefined : Math.min(...times) };
    },
    async withdraw(instanceId, staleBeforeMs, nowMs) {
      await guard(where, () => entries.deleteMany({ $or: [{ _id: instanceId }, { published_at: { $lt: new Date(staleBeforeMs) } }] }));
      await guard(where, () => entries.updateOne({ _id: WITHDRAWALS_ID }, { $set: { last_withdrawn_at: new Date(nowMs) } }, { upsert: true }));
    },
    async activitySince(sinceMs, exceptId) {
      const since = new Date(sinceMs);
      const found = await guard(where, () =>
        entries
          .find({ $or: [{ published_at: { $gte: since }, _id: { $ne: exceptId } }, { _id: WITHDRAWALS_ID, last_withdrawn_at: { $gte: since } }] }, { projection: { _id: 1 } })
          .toArray(),
      );
      return found.length;
    },
  };
}
