import { usageError } from '../errors.js';
import { fields, json, table } from '../format.js';
import { readDocument } from '../documents.js';
import { required, type CliCommand, type CommandContext } from './context.js';

const GROUP_USAGE =
  'group <name> [--create TEMPLATE_FILE] [--selector SEL | --no-selector [--dry-run]] [--require-review on|off] [--json]';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

interface Step {
  agent_id: string;
  group: string;
}
interface Conflict {
  agent_id: string;
  group: string;
  held_by?: string | null;
  reason: string;
}
/** What a rule change did, or a dry run would do (see server/groups/rule-view.ts). */
interface RuleChange {
  counts: { join: number; leave: number; not_claimed: number; conflicts: number };
  join: Step[];
  leave: Step[];
  not_claimed: Conflict[];
  conflicts: Conflict[];
}

/** The rule flags: a selector to set, null to remove the rule, undefined to leave it. */
function selectorOf(ctx: CommandContext): string | null | undefined {
  const given = ctx.flags.selector;
  if (typeof given === 'string' && ctx.flags['no-selector']) throw usageError('give --selector SEL or --no-selector, not both');
  if (typeof given === 'string') return given;
  return ctx.flags['no-selector'] ? null : undefined;
}

function reviewOf(ctx: CommandContext): boolean | undefined {
  const flag = ctx.flags['require-review'];
  if (flag !== undefined && flag !== 'on' && flag !== 'off') throw usageError('--require-review takes on or off');
  return flag === undefined ? undefined : flag === 'on';
}

function changeTable(change: RuleChange): string {
  const rows = [
    ...change.join.map((s) => ['join', s.agent_id, s.group, '']),
    ...change.leave.map((s) => ['leave', s.agent_id, s.group, '']),
    ...change.not_claimed.map((c) => ['not claimed', c.agent_id, c.group, c.reason]),
    ...change.conflicts.map((c) => ['conflict', c.agent_id, c.group, c.reason]),
  ];
  return rows.length === 0 ? '' : table(['ACTION', 'AGENT', 'GROUP', 'REASON'], rows);
}

function changeLine(change: RuleChange, dryRun: boolean): string {
  const c = change.counts;
  const prefix = dryRun ? 'dry run, nothing stored: the rule would' : 'rule applied:';
  return `${prefix} ${dryRun ? 'add' : 'added'} ${c.join} agent(s), ${dryRun ? 'release' : 'released'} ${c.leave}; ${c.not_claimed} not claimed (config does not render), ${c.conflicts} conflict(s)\n`;
}

async function show(ctx: CommandContext, path: string, change: RuleChange | null): Promise<number> {
  const group = await ctx.client.json<Record<string, any>>(path);
  const { members } = await ctx.client.json<{ members: Array<{ source: string }> }>(`${path}/members`);
  if (ctx.json) {
    ctx.io.stdout.write(json(change ? { ...group, rule_change: change } : group));
    return 0;
  }
  if (change) ctx.io.stdout.write(changeLine(change, false));
  const bySource = new Map<string, number>();
  for (const m of members) bySource.set(m.source, (bySource.get(m.source) ?? 0) + 1);
  const sources = [...bySource.entries()].sort().map(([source, n]) => `${n} ${source}`).join(', ');
  const rule = group.rule as { selector: string; claimed: number; conflict_count: number; conflicts: Conflict[] } | null;
  ctx.io.stdout.write(
    fields([
      ['group', String(group.name)],
      ['template', `revision ${group.revision}`],
      ['members', `${members.length}${sources ? ` (${sources})` : ''}`],
      ['rule', rule ? `${rule.selector} (claims ${rule.claimed} member(s); ${rule.conflict_count} matching agent(s) not claimed)` : '-'],
      ['review', group.require_review ? 'required: a template save, a roll back or a member change waits for another admin' : 'not required: saves roll out at once'],
      ['rollout', group.open_rollout ? `${group.open_rollout.id} ${group.open_rollout.status}` : '-'],
    ]),
  );
  if (rule && rule.conflicts.length > 0) {
    ctx.io.stdout.write(`\n${table(['AGENT', 'HELD BY', 'WHY NOT CLAIMED'], rule.conflicts.map((c) => [c.agent_id, c.held_by ?? '-', c.reason]))}`);
  }
  return 0;
}

export const groupCommand: CliCommand = {
  name: 'group',
  usage: GROUP_USAGE,
  summary: "a group, its rule (--selector: the agents whose labels match are members) and whether its changes need review; --create makes one",
  options: {
    create: { type: 'string' },
    selector: { type: 'string', short: 'l' },
    'no-selector': { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    'require-review': { type: 'string' },
  },
  async run(ctx) {
    const name = required(ctx, 0, 'name', GROUP_USAGE);
    if (!NAME.test(name)) throw usageError(`invalid group name "${name}"`);
    const path = `/api/v1/management/groups/${encodeURIComponent(name)}`;
    const selector = selectorOf(ctx);
    const review = reviewOf(ctx);
    const dryRun = ctx.flags['dry-run'] === true;
    if (dryRun && (selector === undefined || review !== undefined || ctx.flags.create !== undefined)) {
      throw usageError('--dry-run previews a rule change of an existing group: give --selector SEL or --no-selector alone');
    }
    const send = (method: 'POST' | 'PATCH', to: string, body: object) =>
      ctx.client.json<Record<string, any>>(to, { method, body: JSON.stringify(body), contentType: 'application/json' });

    if (typeof ctx.flags.create === 'string') {
      const { text } = await readDocument(ctx, ctx.flags.create);
      const created = await send('POST', '/api/v1/management/groups', {
        name,
        template: text,
        ...(selector !== undefined && { selector }),
        ...(review !== undefined && { require_review: review }),
      });
      return show(ctx, path, (created.rule_change as RuleChange | undefined) ?? null);
    }
    if (dryRun) {
      const preview = (await send('PATCH', `${path}?dry_run=true`, { selector })) as RuleChange;
      ctx.io.stdout.write(ctx.json ? json(preview) : changeLine(preview, true) + changeTable(preview));
      return 0;
    }
    if (selector === undefined && review === undefined) return show(ctx, path, null);
    const changed = await send('PATCH', path, { ...(selector !== undefined && { selector }), ...(review !== undefined && { require_review: review }) });
    return show(ctx, path, (changed.rule_change as RuleChange | undefined) ?? null);
  },
};
