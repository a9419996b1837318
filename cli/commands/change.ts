import { usageError } from '../errors.js';
import { ago, fields, json, table } from '../format.js';
import { required, type CliCommand, type CommandContext } from './context.js';
import { printPreview, type PreviewJson } from './preview-print.js';

const CHANGE_USAGE = 'change <id> [approve|reject] [--comment TEXT] [--json]';
const CHANGES_USAGE = 'changes <group> [--status pending|approved|rejected|withdrawn] [--json]';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A reviewed change as the API shows it (the fields printed here). */
interface ChangeJson {
  id: string;
  group_name: string;
  kind: 'template' | 'rollback' | 'member';
  agent_id?: string | null;
  member?: { variables: Record<string, string>; override: Record<string, unknown> | null } | null;
  base_revision: number;
  restored_from: number | null;
  status: string;
  author: string;
  reviewer: string | null;
  review_comment: string | null;
  revision: number | null;
  rollout_id: string | null;
  created_at: number;
  stale?: boolean;
  preview?: PreviewJson | null;
}

function describe(c: ChangeJson): Array<[string, string]> {
  const what = c.kind === 'rollback' ? `roll back to the template of revision ${c.restored_from}` : c.kind === 'member' ? `member ${c.agent_id}` : 'template save';
  return [
    ['change', c.id],
    ['group', `${c.group_name} (${what}, against revision ${c.base_revision}${c.stale ? ', stale: the group moved on' : ''})`],
    ['status', `${c.status}${c.reviewer ? ` by ${c.reviewer}` : ''}${c.review_comment ? ` ("${c.review_comment}")` : ''}`],
    ['author', `${c.author}, ${ago(c.created_at)}`],
    ...(c.member ? [['sets', memberSummary(c.member)] as [string, string]] : []),
    ...(c.revision !== null ? [['revision', `${c.revision}${c.rollout_id ? `, rollout ${c.rollout_id} (fustorctl rollout ${c.rollout_id})` : ''}`] as [string, string]] : []),
  ];
}

function memberSummary(m: NonNullable<ChangeJson['member']>): string {
  const vars = Object.entries(m.variables);
  return `variables ${vars.length === 0 ? '-' : vars.map(([k, v]) => `${k}=${v}`).join(', ')}; override ${m.override === null ? '-' : JSON.stringify(m.override)}`;
}

function changeId(ctx: CommandContext): string {
  const id = required(ctx, 0, 'id', CHANGE_USAGE);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw usageError(`invalid change id "${id}"`);
  return id;
}

export const changeCommand: CliCommand = {
  name: 'change',
  usage: CHANGE_USAGE,
  summary: 'a reviewed change of a group with its preview; approve it (another admin than its author) or reject it (its author: withdraw)',
  options: { comment: { type: 'string' } },
  async run(ctx) {
    const id = changeId(ctx);
    const action = ctx.args[1];
    const base = `/api/v1/management/changes/${encodeURIComponent(id)}`;
    if (action === undefined) {
      const change = await ctx.client.json<ChangeJson>(base);
      if (ctx.json) {
        ctx.io.stdout.write(json(change));
        return 0;
      }
      ctx.io.stdout.write(fields(describe(change)));
      if (change.preview) {
        ctx.io.stdout.write('\n');
        printPreview(ctx, change.preview);
      }
      return 0;
    }
    if (action !== 'approve' && action !== 'reject') throw usageError(`unknown change action "${action}"; usage: fustorctl ${CHANGE_USAGE}`);
    const body = JSON.stringify(typeof ctx.flags.comment === 'string' ? { comment: ctx.flags.comment } : {});
    const answer = await ctx.client.json<{ change: ChangeJson }>(`${base}/${action}`, { method: 'POST', body, contentType: 'application/json' });
    ctx.io.stdout.write(ctx.json ? json(answer) : fields(describe(answer.change)));
    return 0;
  },
};

export const changesCommand: CliCommand = {
  name: 'changes',
  usage: CHANGES_USAGE,
  summary: "a group's reviewed changes, newest first",
  options: { status: { type: 'string' } },
  async run(ctx) {
    const group = required(ctx, 0, 'group', CHANGES_USAGE);
    if (!NAME.test(group)) throw usageError(`invalid group name "${group}"`);
    const query = typeof ctx.flags.status === 'string' ? `?status=${encodeURIComponent(ctx.flags.status)}` : '';
    const { changes } = await ctx.client.json<{ changes: ChangeJson[] }>(`/api/v1/management/groups/${encodeURIComponent(group)}/changes${query}`);
    if (ctx.json) ctx.io.stdout.write(json(changes));
    else if (changes.length === 0) ctx.io.stdout.write('no changes\n');
    else ctx.io.stdout.write(table(['CHANGE', 'KIND', 'AGAINST', 'STATUS', 'AUTHOR', 'REVIEWER', 'PROPOSED'], changes.map((c) => [c.id, c.kind === 'member' ? `member ${c.agent_id}` : c.kind, `r${c.base_revision}`, c.status, c.author, c.reviewer ?? '-', ago(c.created_at)])));
    return 0;
  },
};
