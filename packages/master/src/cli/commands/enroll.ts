import type { CommandModule } from 'yargs';
import { EnrollmentTokenNotFoundError, UsageError } from '../../errors.js';
import { checkEnrollmentPattern } from '../../registry/enrollment-pattern.js';
import { ENROLLMENT_TOKEN_ID_PATTERN, createEnrollmentTokenStore, enrollmentTokenState, type EnrollmentTokenInfo } from '../../registry/enrollment-token-store.js';
import type { CommandContext } from '../context.js';
import { formatDate, formatTable } from '../format.js';
import { prepareTokenFile } from '../token-file.js';

export const ENROLL_ONCE_NOTICE =
  'This token is shown only this once and cannot be read back: put it in the agent.env of the machines of this batch (AGENT_ENROLL_TOKEN=…), the same file on each.';

/** Longest --ttl: an enrollment token is for one batch of machines, not a standing key. */
export const MAX_TTL_MS = 30 * 24 * 3_600_000;
const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90m`, `24h`, `7d` in milliseconds; a sentence when it is not one. */
export function parseTtl(text: string): number {
  const m = /^([1-9][0-9]{0,6})([smhd])$/.exec(text.trim());
  if (m === null) throw new UsageError(`--ttl ${JSON.stringify(text.slice(0, 40))}: give a number and a unit, such as 30m, 24h or 7d`);
  const ms = Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
  if (ms > MAX_TTL_MS) throw new UsageError(`--ttl ${text}: at most 30d; an enrollment token is for one batch of machines`);
  return ms;
}

interface CreateArgs {
  workers: string[] | undefined;
  ttl: string;
  uses: string | undefined;
  json: boolean;
  'token-file': string | undefined;
}

function infoToJson(t: EnrollmentTokenInfo, now: Date): Record<string, unknown> {
  return {
    token_id: t.token_id,
    workers: t.patterns,
    expires_at: t.expires_at.toISOString(),
    uses: t.uses,
    max_uses: t.max_uses,
    created_at: t.created_at.toISOString(),
    revoked_at: t.revoked_at?.toISOString() ?? null,
    state: enrollmentTokenState(t, now) ?? 'live',
  };
}

function createCommand(ctx: CommandContext): CommandModule<object, CreateArgs> {
  return {
    command: 'create',
    describe: 'Create an enrollment token (shown once) with which registered machines fetch their own credentials',
    builder: (yargs) =>
      yargs
        .option('workers', { type: 'string', array: true, requiresArg: true, describe: 'Only worker ids matching these patterns may enroll: globs (gpu-*) or ranges (gpu-[01-64]); default: any registered id without a credential' })
        .option('ttl', { type: 'string', default: '24h', requiresArg: true, describe: 'How long the token works: 30m, 24h, 7d (at most 30d)' })
        .option('uses', { type: 'string', requiresArg: true, describe: 'How many machines may enroll with it (default: no limit before it expires)' })
        .option('json', { type: 'boolean', default: false, describe: 'Print JSON' })
        .option('token-file', { type: 'string', requiresArg: true, describe: 'Write the token to this file (mode 0600) instead of printing it' }),
    async handler(args) {
      const patterns = args.workers ?? [];
      for (const p of patterns) {
        const problem = checkEnrollmentPattern(p);
        if (problem !== undefined) throw new UsageError(problem);
      }
      const ttlMs = parseTtl(args.ttl);
      let maxUses: number | null = null;
      if (args.uses !== undefined) {
        maxUses = Number(args.uses);
        if (!/^[1-9][0-9]{0,5}$/.test(args.uses)) throw new UsageError(`--uses ${JSON.stringify(args.uses.slice(0, 20))}: give a whole number from 1 to 999999`);
      }
      const file = args['token-file'] === undefined ? undefined : await prepareTokenFile(args['token-file']);
      try {
        const { connection, settings } = await ctx.services();
        const store = createEnrollmentTokenStore(connection.db, { now: ctx.now, describeDatabase: settings.hosts });
        const { token, info } = await store.issue({ patterns, ttlMs, maxUses });
        if (file !== undefined) {
          await file.commit(token).catch(async (error: unknown) => {
            await store.revoke(info.token_id).catch(() => undefined);
            throw error;
          });
        }
        const secret = file === undefined ? { token } : { token_file: file.path };
        if (args.json) {
          ctx.stdout(`${JSON.stringify({ ...infoToJson(info, ctx.now()), ...secret }, null, 2)}\n`);
          return;
        }
        ctx.stdout(
          [
            `New enrollment token ${info.token_id}: workers ${patterns.length === 0 ? 'any registered id' : patterns.join(' ')}, until ${formatDate(info.expires_at)}, ${maxUses === null ? 'no use limit' : `${maxUses} use${maxUses === 1 ? '' : 's'}`}.`,
            '',
            ...(file === undefined ? [`Token: ${token}`, '', ENROLL_ONCE_NOTICE] : [`Token written to ${file.path} (mode 0600); it is not shown.`]),
            'Only registered workers without a credential enroll with it, each from its registered address.',
            `Revoke it with: cluster-master enroll revoke ${info.token_id}`,
            '',
          ].join('\n'),
        );
      } finally {
        await file?.abandon();
      }
    },
  };
}

function listCommand(ctx: CommandContext): CommandModule<object, { json: boolean }> {
  return {
    command: 'list',
    describe: 'List enrollment tokens (ids, patterns, uses, expiry; never the tokens)',
    builder: (yargs) => yargs.option('json', { type: 'boolean', default: false, describe: 'Print JSON' }),
    async handler(args) {
      const { connection, settings } = await ctx.services();
      const store = createEnrollmentTokenStore(connection.db, { now: ctx.now, describeDatabase: settings.hosts });
      const tokens = await store.list();
      const now = ctx.now();
      if (args.json) {
        ctx.stdout(`${JSON.stringify(tokens.map((t) => infoToJson(t, now)), null, 2)}\n`);
      } else if (tokens.length === 0) {
        ctx.stdout('No enrollment tokens created.\n');
      } else {
        const rows = tokens.map((t) => [
          t.token_id,
          enrollmentTokenState(t, now) ?? 'live',
          t.patterns.length === 0 ? '*' : t.patterns.join(' '),
          t.max_uses === null ? String(t.uses) : `${t.uses}/${t.max_uses}`,
          formatDate(t.expires_at),
          formatDate(t.created_at),
        ]);
        ctx.stdout(`${formatTable(['TOKEN_ID', 'STATE', 'WORKERS', 'USES', 'EXPIRES_AT', 'CREATED_AT'], rows)}\n`);
      }
    },
  };
}

function revokeCommand(ctx: CommandContext): CommandModule<object, { token_id: string; json: boolean }> {
  return {
    command: 'revoke <token_id>',
    describe: 'Revoke an enrollment token: no machine enrolls with it any more (enrolled ones keep their credentials)',
    builder: (yargs) =>
      yargs
        .positional('token_id', { type: 'string', demandOption: true, describe: 'The token id, as enroll list shows it' })
        .option('json', { type: 'boolean', default: false, describe: 'Print JSON' }),
    async handler(args) {
      if (!ENROLLMENT_TOKEN_ID_PATTERN.test(args.token_id)) throw new UsageError('enroll revoke needs a token id: 16 hex digits, as `enroll list` shows them');
      const { connection, settings } = await ctx.services();
      const store = createEnrollmentTokenStore(connection.db, { now: ctx.now, describeDatabase: settings.hosts });
      if (!(await store.revoke(args.token_id))) throw new EnrollmentTokenNotFoundError(args.token_id);
      ctx.stdout(args.json ? `${JSON.stringify({ token_id: args.token_id, revoked: true })}\n` : `Enrollment token ${args.token_id} revoked.\n`);
    },
  };
}

/** `cluster-master enroll create | list | revoke`. */
export function enrollCommands(ctx: CommandContext): { create: CommandModule<object, CreateArgs>; list: CommandModule<object, { json: boolean }>; revoke: CommandModule<object, { token_id: string; json: boolean }> } {
  return { create: createCommand(ctx), list: listCommand(ctx), revoke: revokeCommand(ctx) };
}
