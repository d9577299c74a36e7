import type { CommandModule } from 'yargs';
import { AdminTokenNotFoundError, UsageError } from '../../errors.js';
import { ADMIN_TOKEN_ID_PATTERN, ADMIN_TOKEN_LABEL_MAX_LENGTH, createAdminTokenStore, isAdminTokenLabel } from '../../registry/admin-token-store.js';
import { singleString } from '../arguments.js';
import type { CommandContext } from '../context.js';
import { formatDate, formatTable } from '../format.js';
import { prepareTokenFile } from '../token-file.js';
import { escapeUnprintable } from '../../printable.js';

interface Args {
  list: boolean | undefined;
  revoke: string | undefined;
  json: boolean;
  'token-file': string | undefined;
  label: string | undefined;
}

export const ADMIN_ONCE_NOTICE =
  'This token is shown only this once and cannot be read back: keep it where your scripts and browser can use it.';

/** The credentials of the master's web page and HTTP API: issue, list, revoke. */
export function adminTokenCommand(ctx: CommandContext): CommandModule<object, Args> {
  return {
    command: 'token',
    describe: 'Issue an admin token for the web page and HTTP API (shown once; --label says what it is for); --list or --revoke ID',
    builder: (yargs) =>
      yargs
        .option('list', { type: 'boolean', describe: 'List admin tokens (ids and dates, never the tokens)' })
        .option('revoke', { type: 'string', requiresArg: true, coerce: singleString('revoke'), describe: 'Revoke the admin token with this id' })
        .option('json', { type: 'boolean', default: false, describe: 'Print JSON' })
        .option('token-file', {
          type: 'string',
          requiresArg: true,
          describe: 'Write the new token to this file (created or replaced as a whole, mode 0600) instead of printing it',
        })
        .option('label', {
          type: 'string',
          requiresArg: true,
          coerce: singleString('label'),
          describe: `What the new token is for ("prometheus", "alice"), shown by --list; up to ${ADMIN_TOKEN_LABEL_MAX_LENGTH} characters`,
        })
        .conflicts('list', 'revoke')
        .conflicts('token-file', ['list', 'revoke'])
        .conflicts('label', ['list', 'revoke']),
    async handler(args) {
      if (args.revoke !== undefined && !ADMIN_TOKEN_ID_PATTERN.test(args.revoke)) {
        throw new UsageError('--revoke needs a token id: 16 hex digits, as `admin token --list` shows them');
      }
      if (args.label !== undefined && !isAdminTokenLabel(args.label)) {
        throw new UsageError(`--label needs 1 to ${ADMIN_TOKEN_LABEL_MAX_LENGTH} characters of text on one line, without leading or trailing spaces`);
      }
      const { connection, settings } = await ctx.services();
      const store = createAdminTokenStore(connection.db, { now: ctx.now, describeDatabase: settings.hosts });
      if (args.revoke !== undefined) {
        if (!(await store.revoke(args.revoke))) throw new AdminTokenNotFoundError(args.revoke);
        ctx.stdout(args.json ? `${JSON.stringify({ token_id: args.revoke, revoked: true })}\n` : `Admin token ${args.revoke} revoked.\n`);
      } else if (args.list === true) {
        const tokens = await store.list();
        if (args.json) {
          ctx.stdout(
            `${JSON.stringify(tokens.map((t) => ({ token_id: t.token_id, label: t.label, created_at: t.created_at.toISOString(), revoked_at: t.revoked_at?.toISOString() ?? null })), null, 2)}\n`,
          );
        } else if (tokens.length === 0) {
          ctx.stdout('No admin tokens issued.\n');
        } else {
          const rows = tokens.map((t) => [t.token_id, t.label === null ? '-' : escapeUnprintable(t.label), formatDate(t.created_at), t.revoked_at === null ? '-' : formatDate(t.revoked_at)]);
          ctx.stdout(`${formatTable(['TOKEN_ID', 'LABEL', 'CREATED_AT', 'REVOKED_AT'], rows)}\n`);
        }
      } else {
        // Opened before the token exists: a file that cannot be written leaves no token behind.
        const file = args['token-file'] === undefined ? undefined : await prepareTokenFile(args['token-file']);
        try {
          const { token_id, token } = await store.issue({ label: args.label });
          if (file !== undefined) {
            await file.commit(token).catch(async (error: unknown) => {
              await store.revoke(token_id).catch(() => undefined);
              throw error;
            });
          }
          const secret = file === undefined ? { token } : { token_file: file.path };
          ctx.stdout(
            args.json
              ? `${JSON.stringify({ token_id, ...secret }, null, 2)}\n`
              : [
                  `New admin token ${token_id}${args.label === undefined ? '' : ` (${args.label})`}.`,
                  '',
                  ...(file === undefined ? [`Token: ${token}`, '', ADMIN_ONCE_NOTICE] : [`Token written to ${file.path} (mode 0600); it is not shown.`]),
                  `Revoke it with: cluster-master admin token --revoke ${token_id}`,
                  '',
                ].join('\n'),
          );
        } finally {
          await file?.abandon();
        }
      }
    },
  };
}
