import type { Collection, Db, Document, ObjectId } from 'mongodb';
import type { BenchArgs } from './args.js';
import type { FleetSpecs } from './fleet-protocol.js';
import type { Row } from './report.js';

/** What every scenario gets from the coordinator. */
export interface BenchContext {
  args: BenchArgs;
  /** Directory of this run's logs and profiles. */
  runDir: string;
  /** Direct connection to the dev database (not through the proxy): seeding, samplers, replay. */
  db: Db;
  workers: Collection<Document>;
  dbHost: string;
  dbPort: number;
  /** The dev database's process, for CPU figures. */
  devDbPid: number | undefined;
  database: string;
  /** The fleet's worker ids, in order. */
  fleetIds: string[];
  tokenOf: ReadonlyMap<string, string>;
  idOf: ReadonlyMap<string, ObjectId>;
  /** The workers the real `cluster-agent run` processes use (as installed, plain node). */
  realAgentIds: [string, string];
  specs: FleetSpecs;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  /** Figures for the JSON, by scenario. */
  results: Record<string, unknown>;
  rows: Row[];
  /** Things to stop if the run is interrupted, newest first. */
  cleanups: (() => Promise<void>)[];
}

export function credentials(ctx: BenchContext, ids: readonly string[]): [string, string][] {
  return ids.map((id) => [id, ctx.tokenOf.get(id) ?? '']);
}
