import { usageError } from '../errors.js';
import { ago, fields, json, table } from '../format.js';
import { required, type CliCommand, type CommandContext } from './context.js';
import { dryRunQuery, printPreview, type PreviewJson } from './preview-print.js';
import { withEveryMember } from './member-pages.js';

const USAGE = 'rollout <id> [resume|rollback [--dry-run]] [--agents] [--json]';
const MEMBER_STATES = ['applied', 'soaking', 'failed', 'applying', 'pending', 'cancelled'] as const;

/** The rollout as the API shows it (the fields printed here). */
interface RolloutJson {
  id: string;
  group: string;
  from_revision: number | null;
  to_revision: number;
  strategy: {
    strategy: 'all' | 'batches';
    batch_size?: number;
    percent?: number;
    pause_seconds?: number;
    max_failures?: number;
    batch_timeout_seconds?: number;
    soak_seconds?: number;
    on_halt?: 'pause' | 'rollback';
  };
  status: string;
  status_reason: string | null;
  batch_count: number;
  /** 1-based, as the API shows it (and each member's `batch`). */
  current_batch: number;
  next_batch_at: number | null;
  updated_at: number;
  counts: Record<(typeof MEMBER_STATES)[number] | 'total', number>;
  agents?: Array<{ agent_id: string; batch: number; state: string; online: boolean; error: string | null; soak_remaining_seconds: number | null; updated_at: number }>;
  /** With agents: the next page's cursor, or null on the last. */
  next_cursor?: string | null;
}

/** `batches of 2, pause 30 s, max_failures 1, batch timeout 600 s, soak 60 s, on halt rollback` */
function describeStrategy(s: RolloutJson['strategy']): string {
  const timeout = `batch timeout ${s.batch_timeout_seconds ?? 600} s`;
  const health = `${s.soak_seconds ? `, soak ${s.soak_seconds} s` : ''}${s.on_halt === 'rollback' ? ', on halt rollback' : ''}`;
  if (s.strategy === 'all') return `all at once${s.max_failures !== undefined ? `, max_failures ${s.max_failures}` : ''}, ${timeout}${health}`;
  const size = s.batch_size !== undefined ? `batches of ${s.batch_size}` : `batches of ${s.percent}%`;
  return `${size}, pause ${s.pause_seconds ?? 0} s, max_failures ${s.max_failures ?? 0}, ${timeout}${health}`;
}

function print(ctx: CommandContext, r: RolloutJson): void {
  const now = Date.now();
  const batch = r.status === 'running' && r.next_batch_at !== null ? `, next starts in ${Math.max(0, Math.ceil((r.next_batch_at - now) / 1000))} s` : '';
  ctx.io.stdout.write(
    fields([
      ['rollout', r.id],
      ['group', `${r.group} (revision ${r.from_revision ?? '-'} → ${r.to_revision})`],
      ['status', `${r.status}${r.status_reason ? ` (${r.status_reason})` : ''}, updated ${ago(r.updated_at, now)}`],
      ['strategy', describeStrategy(r.strategy)],
      ['batch', `${r.current_batch} of ${r.batch_count}${batch}`],
      ['members', `${MEMBER_STATES.map((s) => `${s} ${r.counts[s]}`).join(', ')} (total ${r.counts.total})`],
    ]),
  );
  if (r.agents?.length) {
    ctx.io.stdout.write('\n');
    ctx.io.stdout.write(
      table(
        ['AGENT', 'BATCH', 'STATE', 'ONLINE', 'SOAK LEFT', 'UPDATED', 'ERROR'],
        r.agents.map((a) => [
          a.agent_id,
          String(a.batch),
          a.state,
          a.online ? 'yes' : 'no',
          a.soak_remaining_seconds === null ? '-' : `${a.soak_remaining_seconds}s`,
          ago(a.updated_at, now),
          a.error ?? '-',
        ]),
      ),
    );
  }
}

export const rolloutCommand: CliCommand = {
  name: 'rollout',
  usage: USAGE,
  summary: "a group rollout's progress (members with --agents); resume a halted one, or roll it back to the template it replaced",
  options: { agents: { type: 'boolean' }, 'dry-run': { type: 'boolean' } },
  async run(ctx) {
    const id = required(ctx, 0, 'id', USAGE);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw usageError(`invalid rollout id "${id}"`);
    const action = ctx.args[1];
    const base = `/api/v1/management/rollouts/${encodeURIComponent(id)}`;
    let view: RolloutJson;
    if (action === undefined) {
      view = ctx.flags.agents === true ? await withEveryMember<RolloutJson>(ctx, `${base}?agents=true`) : await ctx.client.json<RolloutJson>(`${base}?agents=false`);
    } else if (action === 'resume') {
      view = await ctx.client.json<RolloutJson>(`${base}/resume`, { method: 'POST' });
    } else if (action === 'rollback' && ctx.flags['dry-run'] === true) {
      printPreview(ctx, await ctx.client.json<PreviewJson>(`${base}/rollback?${dryRunQuery(ctx.flags)}`, { method: 'POST', body: '{}', contentType: 'application/json' }));
      return 0;
    } else if (action === 'rollback') {
      const answer = await ctx.client.json<{ rolled_back: RolloutJson; revision: number; restored_from: number; rollout: RolloutJson | null; change?: { id: string } }>(
        `${base}/rollback`,
        { method: 'POST', body: '{}', contentType: 'application/json' },
      );
      if (answer.change && !ctx.json) {
        ctx.io.stdout.write(`the group requires review: change ${answer.change.id} waits for another admin (fustorctl change ${answer.change.id} approve)\n`);
        return 0;
      }
      if (ctx.json) {
        ctx.io.stdout.write(json(answer));
        return 0;
      }
      ctx.io.stdout.write(`rolled back: group ${answer.rolled_back.group} saved again at revision ${answer.revision} (the template of revision ${answer.restored_from})\n`);
      if (answer.rollout) {
        ctx.io.stdout.write('\n');
        print(ctx, answer.rollout);
      }
      return 0;
    } else {
      throw usageError(`unknown rollout action "${action}"; usage: fustorctl ${USAGE}`);
    }
    if (ctx.json) ctx.io.stdout.write(json(view));
    else print(ctx, view);
    return 0;
  },
};
