import type { CommandModule } from 'yargs';
import { createWorkerEventStore } from '../../history/event-store.js';
import { OPERATOR_OPTIONS } from '../../server/options.js';
import { nonNegativeNumber } from '../arguments.js';
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';

interface Args {
  json: boolean;
  'event-ttl-days': number;
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
          default: String(OPERATOR_OPTIONS.eventTtlDays.default),
          coerce: ttlDays,
          describe: `${OPERATOR_OPTIONS.eventTtlDays.help} (the TTL index of WORKER_EVENTS; serve --event-ttl-days sets it too)`,
        }),
    async handler(args) {
      const { registry, credentials, connection, settings } = await ctx.services();
      const report = await registry.ensureCollections();
      // Credentials of workers deleted by hand (their document gone or inserted anew) admit nobody; tidy them away.
      const removed = await credentials.removeOrphans();
      const expiry = await createWorkerEventStore(connection.db).ensure(args['event-ttl-days'] * 86_400);
      if (args.json) {
        ctx.stdout(
          `${JSON.stringify({ database: settings.database, created_collections: report.createdCollections, created_indexes: report.createdIndexes, removed_credentials: removed, event_ttl_days: args['event-ttl-days'], event_expiry: expiry }, null, 2)}\n`,
        );
        return;
      }
      const created = [
        ...(report.createdCollections.length > 0 ? [`created collections: ${report.createdCollections.join(', ')}`] : []),
        ...(report.createdIndexes.length > 0 ? [`created indexes: ${report.createdIndexes.join(', ')}`] : []),
        ...(removed > 0 ? [`removed credentials of workers no longer registered: ${removed}`] : []),
      ];
      const expiryLine = expiry === 'ttl_index'
        ? `Worker events (WORKER_EVENTS) expire after ${args['event-ttl-days']} days (TTL index).`
        : `Worker events (WORKER_EVENTS) are kept ${args['event-ttl-days']} days; this database keeps no TTL index, so the master deletes expired ones itself.`;
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
