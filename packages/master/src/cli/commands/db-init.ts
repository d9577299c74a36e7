import type { CommandModule } from 'yargs';
import type { CommandContext } from '../context.js';

interface Args {
  json: boolean;
}

export function dbInitCommand(ctx: CommandContext): CommandModule<object, Args> {
  return {
    command: 'init',
    describe: 'Create the collections and indexes that are missing (safe to run again)',
    builder: (yargs) =>
      yargs.option('json', { type: 'boolean', default: false, describe: 'Print what was created as JSON' }),
    async handler(args) {
      const { registry, credentials, connection, settings } = await ctx.services();
      const report = await registry.ensureCollections();
      // Credentials of workers deleted by hand (their document gone or inserted anew) admit nobody; tidy them away.
      const removed = await credentials.removeOrphans();
      if (args.json) {
        ctx.stdout(
          `${JSON.stringify({ database: settings.database, created_collections: report.createdCollections, created_indexes: report.createdIndexes, removed_credentials: removed }, null, 2)}\n`,
        );
        return;
      }
      const created = [
        ...(report.createdCollections.length > 0 ? [`created collections: ${report.createdCollections.join(', ')}`] : []),
        ...(report.createdIndexes.length > 0 ? [`created indexes: ${report.createdIndexes.join(', ')}`] : []),
        ...(removed > 0 ? [`removed credentials of workers no longer registered: ${removed}`] : []),
      ];
      ctx.stdout(
        created.length === 0
          ? `Database ${connection.describe()} is up to date; nothing to create.\n`
          : `Database ${connection.describe()}:\n${created.map((line) => `  ${line}`).join('\n')}\n`,
      );
    },
  };
}
