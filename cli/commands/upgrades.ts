import { usageError } from '../errors.js';
import { ago, fields, json, table } from '../format.js';
import { numberFlag, wholeFlag } from '../flags.js';
import { agentIdArg } from './agents.js';
import { withEveryMember } from './member-pages.js';
import { required, type CliCommand, type CommandContext } from './context.js';
import { versionArg } from './packages.js';

const USAGE =
  'upgrade start <version> all|online|ID,ID... [--batch-size N | --percent P] [--pause SECONDS] [--max-failures N] [--ttl SECONDS]\n' +
  '        | show <id> [--agents] | resume <id> | cancel <id> [--json]';
const BASE = '/api/v1/management/upgrades';

/** An upgrade rollout as the API shows it (batches counted from 1). */
interface UpgradeJson {
  id: string;
  version: string;
  status: string;
  status_reason: string | null;
  batch_size: number;
  batch_count: number;
  current_batch: number;
  pause_seconds: number;
  max_failures: number;
  ttl_seconds: number;
  next_batch_at: number | null;
  author: string;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  counts?: Record<'waiting' | 'upgrading' | 'succeeded' | 'failed', number>;
  agents?: Array<{ agent_id: string; batch: number; command_id: string | null; status: string | null; error: string | null }>;
  next_cursor?: string | null;
}

function idArg(ctx: CommandContext): string {
  const id = required(ctx, 1, 'id', USAGE);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw usageError(`invalid upgrade rollout id "${id}"`);
  return id;
}

/** `all`, `online`, or a comma-separated list of agent ids (each checked). */
function targets(ctx: CommandContext): 'all' | 'online' | string[] {
  const value = required(ctx, 2, 'all|online|ID,ID...', USAGE);
  if (value === 'all' || value === 'online') return value;
  const ids = value.split(',').map((id) => id.trim()).filter(Boolean);
  return ids.map((id) => agentIdArg({ ...ctx, args: [id] }, 0, USAGE));
}

function print(ctx: CommandContext, r: UpgradeJson, withAgents: boolean): void {
  const now = Date.now();
  const next = r.status === 'running' && r.next_batch_at !== null ? `, next starts in ${Math.max(0, Math.ceil((r.next_batch_at - now) / 1000))} s` : '';
  const c = r.counts;
  ctx.io.stdout.write(
    fields([
      ['upgrade', r.id],
      ['version', r.version],
      ['status', `${r.status}${r.status_reason ? ` (${r.status_reason})` : ''}, updated ${ago(r.updated_at, now)}`],
      ['strategy', `batches of ${r.batch_size}, pause ${r.pause_seconds} s, max_failures ${r.max_failures}, command ttl ${r.ttl_seconds} s`],
      ['batch', `${r.current_batch} of ${r.batch_count}${next}`],
      ...(c ? ([['agents', `waiting ${c.waiting}, upgrading ${c.upgrading}, succeeded ${c.succeeded}, failed ${c.failed}`]] as Array<[string, string]>) : []),
      ['started', `${ago(r.created_at, now)} by ${r.author}`],
    ]),
  );
  if (withAgents && r.agents?.length) {
    ctx.io.stdout.write('\n');
    ctx.io.stdout.write(table(['AGENT', 'BATCH', 'COMMAND', 'STATUS', 'ERROR'], r.agents.map((a) => [a.agent_id, String(a.batch), a.command_id ?? '-', a.status ?? 'waiting', a.error ?? '-'])));
  }
}

async function start(ctx: CommandContext): Promise<number> {
  const version = versionArg(ctx, 1, USAGE);
  const body = {
    version,
    agents: targets(ctx),
    batch_size: wholeFlag(ctx.flags, 'batch-size'),
    percent: numberFlag(ctx.flags, 'percent'),
    pause_seconds: wholeFlag(ctx.flags, 'pause'),
    max_failures: wholeFlag(ctx.flags, 'max-failures'),
    ttl_seconds: wholeFlag(ctx.flags, 'ttl'),
  };
  const rollout = await ctx.client.json<UpgradeJson>(BASE, { method: 'POST', contentType: 'application/json', body: JSON.stringify(body) });
  if (ctx.json) ctx.io.stdout.write(json(rollout));
  else print(ctx, rollout, false);
  return 0;
}

async function show(ctx: CommandContext, action: 'show' | 'resume' | 'cancel'): Promise<number> {
  const path = `${BASE}/${encodeURIComponent(idArg(ctx))}`;
  const rollout =
    action === 'show' && ctx.flags.agents === true
      ? await withEveryMember<UpgradeJson>(ctx, path)
      : action === 'show'
        ? await ctx.client.json<UpgradeJson>(path)
        : await ctx.client.json<UpgradeJson>(`${path}/${action}`, { method: 'POST' });
  if (ctx.json) ctx.io.stdout.write(json(rollout));
  else print(ctx, rollout, ctx.flags.agents === true);
  return 0;
}

/** Upgrade rollouts: send `upgrade` commands to a set of agents in batches, follow them, resume a halted one, cancel one. */
export const upgradeCommand: CliCommand = {
  name: 'upgrade',
  usage: USAGE,
  summary: 'upgrade agents to an uploaded package in batches (operator role); show a rollout (each agent with --agents), resume or cancel it',
  options: { agents: { type: 'boolean' }, 'batch-size': { type: 'string' }, percent: { type: 'string' }, pause: { type: 'string' }, 'max-failures': { type: 'string' }, ttl: { type: 'string' } },
  run(ctx) {
    const action = required(ctx, 0, 'start|show|resume|cancel', USAGE);
    if (action === 'start') return start(ctx);
    if (action === 'show' || action === 'resume' || action === 'cancel') return show(ctx, action);
    throw usageError(`unknown upgrade action "${action}"; usage: fustorctl ${USAGE}`);
  },
};

/** The latest upgrade rollouts, newest first. */
export const upgradesCommand: CliCommand = {
  name: 'upgrades',
  usage: 'upgrades [--json]',
  summary: 'the latest upgrade rollouts: version, status, batch',
  options: {},
  async run(ctx) {
    const { rollouts } = await ctx.client.json<{ rollouts: UpgradeJson[] }>(BASE);
    if (ctx.json) ctx.io.stdout.write(json(rollouts));
    else if (!rollouts.length) ctx.io.stdout.write('no upgrade rollouts\n');
    else {
      const now = Date.now();
      ctx.io.stdout.write(table(['ID', 'VERSION', 'STATUS', 'BATCH', 'STARTED', 'BY'], rollouts.map((r) => [r.id, r.version, r.status, `${r.current_batch}/${r.batch_count}`, ago(r.created_at, now), r.author])));
    }
    return 0;
  },
};
