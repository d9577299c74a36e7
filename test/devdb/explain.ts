import type { Db, Document } from 'mongodb';

/**
 * Whether the dev database under test was built with the filter pushdown:
 * scripts/devdb.sh builds it unless DEVDB_UPSTREAM=1 or DEVDB_PUSHDOWN=0, and
 * scripts/test.sh (or vitest's global setup) builds it in the environment the
 * tests run in.
 */
export function pushdownBuilt(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.DEVDB_UPSTREAM !== '1' && env.DEVDB_PUSHDOWN !== '0';
}

/**
 * Whether it was also built with the $set update in SQL (set-update): unless
 * DEVDB_SET_PUSHDOWN=0, and only on top of the pushdown.
 */
export function setUpdateBuilt(env: NodeJS.ProcessEnv = process.env): boolean {
  return pushdownBuilt(env) && env.DEVDB_SET_PUSHDOWN !== '0';
}

/** FerretDB answers buildInfo with its own version besides MongoDB's; MongoDB does not. */
export async function isFerretDb(db: Db): Promise<boolean> {
  const info = await db.admin().command({ buildInfo: 1 });
  return typeof info.ferretdbVersion === 'string';
}

export interface Explained {
  /** FerretDB: whether the backend was given part of the filter to run in SQL. */
  filterPushdown: boolean;
  /** FerretDB: SQLite's EXPLAIN QUERY PLAN, one `detail` per line; MongoDB: the explain document as JSON. */
  plan: string[];
}

/** The plan of a find with this filter: FerretDB's SQLite backend builds the same SELECT for find, update, delete and count. */
export async function explainFind(db: Db, collection: string, filter: Document): Promise<Explained> {
  const reply = await db.command({ explain: { find: collection, filter } });
  const planner = reply.queryPlanner as { Plan?: unknown } | undefined;
  const lines = Array.isArray(planner?.Plan) ? planner.Plan.map(String) : [JSON.stringify(reply)];
  return {
    filterPushdown: reply.filterPushdown === true,
    plan: lines.map((line) => line.replace(/^.*detail=/, '')),
  };
}

/** A plan that reads the collection's table through an index and never scans it whole. */
export function readsThroughIndex(plan: readonly string[]): boolean {
  const searches = plan.filter((line) => /^SEARCH \S+ USING (UNIQUE )?INDEX /.test(line));
  const tableScans = plan.filter((line) => /^SCAN /.test(line) && !/^SCAN json_each VIRTUAL TABLE/.test(line));
  return searches.length > 0 && tableScans.length === 0;
}

/** The filters in a command the driver sent: find, count, delete and update statements, an aggregate's leading $match. */
export function filtersOf(command: Document): Document[] {
  if (typeof command.find === 'string') return [(command.filter as Document | undefined) ?? {}];
  if (typeof command.count === 'string') return [(command.query as Document | undefined) ?? {}];
  if (typeof command.update === 'string') return (command.updates as { q: Document }[]).map((u) => u.q);
  if (typeof command.delete === 'string') return (command.deletes as { q: Document }[]).map((d) => d.q);
  if (typeof command.aggregate === 'string') {
    const first = (command.pipeline as Document[])[0];
    return first?.$match !== undefined ? [first.$match as Document] : [];
  }
  return [];
}

/** The collection a find/count/update/delete/aggregate command names. */
export function collectionOf(command: Document): string | undefined {
  for (const name of ['find', 'count', 'update', 'delete', 'aggregate']) {
    if (typeof command[name] === 'string') return command[name];
  }
  return undefined;
}
