import { usageError } from '../errors.js';
import { ago, isoTime, json, table } from '../format.js';
import { stringFlag, timeFlag, wholeFlag } from '../flags.js';
import { required, type CliCommand, type CommandContext } from './context.js';

const USAGE =
  'tokens list [admin|enrollment] | create admin <name> --role viewer|operator|admin\n' +
  '        | create enrollment <name> [--expires TIME] [--max-uses N] [--group NAME] | revoke admin|enrollment <id> [--json]';
const KINDS = ['admin', 'enrollment'] as const;
type Kind = (typeof KINDS)[number];
const ROLES = ['viewer', 'operator', 'admin'];

/** A token as the API lists it (never its secret). */
interface TokenJson {
  id: string;
  name: string;
  role: string | null;
  group: string | null;
  created_at: number;
  expires_at: number | null;
  max_uses: number | null;
  uses: number;
  revoked_at: number | null;
}

const path = (kind: Kind): string => `/api/v1/management/${kind}-tokens`;

function kindArg(ctx: CommandContext, index: number): Kind {
  const kind = required(ctx, index, 'admin|enrollment', USAGE);
  if (!(KINDS as readonly string[]).includes(kind)) throw usageError(`token kind must be admin or enrollment, got "${kind}"`);
  return kind as Kind;
}

/** `active`, `revoked 2h ago`, `expired`, `used up`. */
function state(t: TokenJson, now: number): string {
  if (t.revoked_at !== null) return `revoked ${ago(t.revoked_at, now)}`;
  if (t.expires_at !== null && t.expires_at <= now) return 'expired';
  if (t.max_uses !== null && t.uses >= t.max_uses) return 'used up';
  return 'active';
}

async function list(ctx: CommandContext): Promise<number> {
  const kinds: readonly Kind[] = ctx.args[1] === undefined ? KINDS : [kindArg(ctx, 1)];
  const tokens: Array<TokenJson & { kind: Kind }> = [];
  for (const kind of kinds) {
    const answer = await ctx.client.json<{ tokens: TokenJson[] }>(path(kind));
    tokens.push(...answer.tokens.map((t) => ({ kind, ...t })));
  }
  if (ctx.json) {
    ctx.io.stdout.write(json(tokens));
    return 0;
  }
  const now = Date.now();
  const rows = tokens.map((t) => [
    t.id,
    t.kind,
    t.name,
    t.kind === 'admin' ? (t.role ?? '-') : t.group ? `group ${t.group}` : '-',
    isoTime(t.created_at),
    isoTime(t.expires_at),
    t.max_uses === null ? String(t.uses) : `${t.uses}/${t.max_uses}`,
    state(t, now),
  ]);
  ctx.io.stdout.write(table(['ID', 'KIND', 'NAME', 'ROLE/GROUP', 'CREATED', 'EXPIRES', 'USES', 'STATE'], rows));
  return 0;
}

async function create(ctx: CommandContext): Promise<number> {
  const kind = kindArg(ctx, 1);
  const name = required(ctx, 2, 'name', USAGE);
  let body: Record<string, unknown>;
  if (kind === 'admin') {
    const role = stringFlag(ctx.flags, 'role');
    if (!role || !ROLES.includes(role)) throw usageError(`an admin token needs --role ${ROLES.join('|')}`);
    for (const flag of ['expires', 'max-uses', 'group']) if (ctx.flags[flag] !== undefined) throw usageError(`--${flag} is for enrollment tokens`);
    body = { name, role };
  } else {
    if (ctx.flags.role !== undefined) throw usageError('--role is for admin tokens');
    const expires = timeFlag(ctx.flags, 'expires', 'ahead');
    const maxUses = wholeFlag(ctx.flags, 'max-uses');
    const group = stringFlag(ctx.flags, 'group');
    body = { name, ...(expires !== undefined && { expires_at: expires }), ...(maxUses !== undefined && { max_uses: maxUses }), ...(group !== undefined && { group }) };
  }
  const created = await ctx.client.json<TokenJson & { secret: string }>(path(kind), { method: 'POST', contentType: 'application/json', body: JSON.stringify(body) });
  if (ctx.json) {
    ctx.io.stdout.write(json(created));
    return 0;
  }
  // The secret alone on stdout, so `$(fustorctl tokens create ...)` captures it; the rest is for the reader.
  const scope = kind === 'admin' ? `role ${created.role}` : [created.group ? `group ${created.group}` : '', created.expires_at ? `expires ${isoTime(created.expires_at)}` : '', created.max_uses ? `${created.max_uses} use(s)` : ''].filter(Boolean).join(', ') || 'no expiry, unlimited uses';
  ctx.io.stderr.write(`created ${kind} token ${created.id} "${created.name}" (${scope}); the secret below is shown once, only its hash is stored\n`);
  ctx.io.stdout.write(`${created.secret}\n`);
  return 0;
}

async function revoke(ctx: CommandContext): Promise<number> {
  const kind = kindArg(ctx, 1);
  const id = required(ctx, 2, 'id', USAGE);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw usageError(`invalid token id "${id}"`);
  const revoked = await ctx.client.json<TokenJson>(`${path(kind)}/${encodeURIComponent(id)}`, { method: 'DELETE' });
  ctx.io.stdout.write(ctx.json ? json(revoked) : `revoked ${kind} token ${revoked.id} "${revoked.name}"\n`);
  return 0;
}

/** Admin and enrollment tokens (the admin role): list them, create one (its secret is printed once), revoke one. */
export const tokensCommand: CliCommand = {
  name: 'tokens',
  usage: USAGE,
  summary: 'admin and enrollment tokens: list, create (prints the secret once, alone on stdout), revoke',
  options: { role: { type: 'string' }, expires: { type: 'string' }, 'max-uses': { type: 'string' }, group: { type: 'string' } },
  run(ctx) {
    const action = required(ctx, 0, 'list|create|revoke', USAGE);
    if (action === 'list') return list(ctx);
    if (action === 'create') return create(ctx);
    if (action === 'revoke') return revoke(ctx);
    throw usageError(`unknown tokens action "${action}"; usage: fustorctl ${USAGE}`);
  },
};
