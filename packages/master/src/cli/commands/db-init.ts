import type { CommandModule } from 'yargs';
import { createWorkerEventStore } from '../../history/event-store.js';
import { OPERATOR_OPTIONS } from '../../server/options.js';
import { nonNegativeNumber } from '../arguments.js';
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';

interface Args {
  json: boolean;
  'event-ttl-days': number | undefined;
}

export function dbInitCommand(ctx: CommandContext): CommandModule<object, Args> {
  return {
    command: 'init',
    describe: 'Create the collections and indexes that are missing (safe to run again)',
    builder: (yargs) =>
      yargs
        .option('json', { type: 'boolean', default: false, describe: 'Print what was created as JSON' })
        .option('event-ttl-days', {
          type: 'string',
          coerce: ttlDays,
          describe: `${OPERATOR_OPTIONS.eventTtlDays.help} (the TTL index of WORKER_EVENTS; serve --event-ttl-days sets it too). Not given: an existing TTL is kept, a missing one is created with ${OPERATOR_OPTIONS.eventTtlDays.default} days`,
        }),
    async handler(args) {
      const { registry, credentials, connection, settings } = await ctx.services();
      const report = await registry.ensureCollections();
      // Credentials of workers deleted by hand (their document gone or inserted anew) admit nobody; tidy them away.
      const removed = await credentials.removeOrphans();
      const days = args['event-ttl-days'];
      const expiry = await createWorkerEventStore(connection.db).ensure(days === undefined ? undefined : days * 86_400);
      if (args.json) {
        ctx.stdout(
          `${JSON.stringify({ database: settings.database, created_collections: report.createdCollections, created_indexes: report.createdIndexes, removed_credentials: removed, event_ttl_days: days ?? null, event_expiry: expiry }, null, 2)}\n`,
        );
        return;
      }
      const created = [
        ...(report.createdCollections.length > 0 ? [`created collections: ${report.createdCollections.join(', ')}`] : []),
        ...(report.createdIndexes.length > 0 ? [`created indexes: ${report.createdIndexes.join(', ')}`] : []),
        ...(removed > 0 ? [`removed credentials of workers no longer registered: ${removed}`] : []),
      ];
      const expiryLine =
        expiry !== 'ttl_index'
          ? `Worker events (WORKER_EVENTS): this database keeps no TTL index, so each master deletes those older than its --event-ttl-days (default ${OPERATOR_OPTIONS.eventTtlDays.default}) itself.`
          : days === undefined
            ? `Worker events (WORKER_EVENTS) expire by their TTL index, kept as it was (a new one: ${OPERATOR_OPTIONS.eventTtlDays.default} days; --event-ttl-days sets it).`
            : `Worker events (WORKER_EVENTS) expire after ${days} days (TTL index).`;
      ctx.stdout(
        created.length === 0
          ? `Database ${connection.describe()} is up to date; nothing to create.\n${expiryLine}\n`
          : `Database ${connection.describe()}:\n${created.map((line) => `  ${line}`).join('\n')}\n${expiryLine}\n`,
      );
    },
  };
}

/** --event-ttl-days: a whole number of days within the serve setting's bounds. */
function ttlDays(value: unknown): number {
  const days = nonNegativeNumber('event-ttl-days', { integer: true })(value);
  const { min, max } = OPERATOR_OPTIONS.eventTtlDays;
  if (days < min || days > max) throw new UsageError(`--event-ttl-days must be from ${min} to ${max}, got ${days}`);
  return days;
}
