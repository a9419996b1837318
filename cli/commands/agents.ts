import { AgentId } from '../../shared/protocol/index.js';
import { usageError } from '../errors.js';
import { ago, fields, isoTime, json, shortSignature, table } from '../format.js';
import { required, type CliCommand, type CommandContext } from './context.js';

/** `k=v,k2=v2`, or `-` when there are none. */
export function labelText(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '-';
}

/** An agent id from the command line, checked before it goes into a URL. */
export function agentIdArg(ctx: CommandContext, index: number, usage: string): string {
  const id = required(ctx, index, 'agent', usage);
  if (!AgentId.safeParse(id).success) throw usageError(`invalid agent id "${id}": letters, digits, dot, dash and underscore`);
  return id;
}

/** Fetches agents a page at a time: one page, or with `all` every page (the listing is keyset-paged, so this is stable). */
async function fetchAgents(ctx: CommandContext, query: URLSearchParams, all: boolean): Promise<{ agents: any[]; next: string | null }> {
  const agents: any[] = [];
  for (;;) {
    const page = await ctx.client.json<{ agents: any[]; next_cursor: string | null }>(`/api/v1/management/agents?${query}`);
    agents.push(...page.agents);
    if (!all || !page.next_cursor) return { agents, next: page.next_cursor };
    query.set('cursor', page.next_cursor);
  }
}

export const agentsCommand: CliCommand = {
  name: 'agents',
  usage: 'agents [--selector SEL] [--status online|offline] [--search TEXT] [--sort KEY] [--limit N] [--cursor C | --all] [--json]',
  summary: 'list agents a page at a time: status, version, address, labels, config state, drift, last seen',
  options: {
    selector: { type: 'string', short: 'l' },
    status: { type: 'string' },
    search: { type: 'string' },
    sort: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
    all: { type: 'boolean' },
  },
  async run(ctx) {
    const query = new URLSearchParams();
    for (const [flag, param] of [['selector', 'selector'], ['status', 'status'], ['search', 'q'], ['sort', 'sort'], ['limit', 'limit'], ['cursor', 'cursor']] as const) {
      const value = ctx.flags[flag];
      if (typeof value === 'string') query.set(param, value);
    }
    if (ctx.flags.all && ctx.flags.cursor) throw usageError('--all and --cursor do not go together');
    const { agents, next } = await fetchAgents(ctx, query, Boolean(ctx.flags.all));
    if (ctx.json) {
      ctx.io.stdout.write(json({ agents, next_cursor: next }));
      return 0;
    }
    if (!agents.length) {
      ctx.io.stdout.write(query.has('selector') || query.has('status') || query.has('q') ? 'no agents match\n' : 'no agents yet\n');
      return 0;
    }
    const now = Date.now();
    const rows = agents.map((a) => [
      a.agent_id,
      a.online ? 'online' : 'offline',
      a.version ?? '-',
      a.address ?? '-',
      a.config.status ?? 'no config',
      shortSignature(a.config.desired_signature),
      a.drift ? 'DRIFT' : '-',
      a.online ? 'now' : ago(a.last_seen, now),
      labelText(a.labels),
    ]);
    ctx.io.stdout.write(table(['AGENT', 'STATUS', 'VERSION', 'ADDRESS', 'CONFIG', 'DESIRED', 'DRIFT', 'LAST SEEN', 'LABELS'], rows));
    if (next) ctx.io.stderr.write(`more agents: --cursor ${next} (or --all)\n`);
    return 0;
  },
};

export const agentCommand: CliCommand = {
  name: 'agent',
  usage: 'agent <id> [--json]',
  summary: "one agent: connection, desired / applied / reported config, pipes",
  options: {},
  async run(ctx) {
    const id = agentIdArg(ctx, 0, this.usage);
    const a = await ctx.client.json<any>(`/api/v1/management/agents/${encodeURIComponent(id)}`);
    if (ctx.json) {
      ctx.io.stdout.write(json(a));
      return 0;
    }
    const now = Date.now();
    const c = a.config;
    ctx.io.stdout.write(
      fields([
        ['agent', a.agent_id],
        ['status', a.online ? `online since ${isoTime(a.connected_at)} (session ${a.session_id})` : `offline, last seen ${ago(a.last_seen, now)}`],
        ['version', a.version ?? '-'],
        ['host', `${a.hostname ?? '-'} (${a.address ?? '-'})`],
        ['labels', labelText(a.labels)],
        ['attributes', labelText(a.attributes)],
        ['config', c.status ?? 'no config stored'],
        ['desired', c.desired_signature ? `${c.desired_signature} (revision ${c.desired_revision})` : '-'],
        ['applied', c.applied_signature ?? '-'],
        ['running', c.running_signature ? `${c.running_signature} (${c.running_source})` : '-'],
        ['reported', c.reported_signature ? `${c.reported_signature} (${ago(c.reported_at, now)})` : '-'],
        ['drift', a.drift ? 'yes: the reported config differs from the desired one' : 'no'],
        ...(c.error ? ([['error', c.error]] as Array<[string, string]>) : []),
      ]),
    );
    if (a.pipes?.length) {
      ctx.io.stdout.write('\n');
      if (a.pipes_stale) ctx.io.stdout.write(`pipes as last reported ${ago(a.pipes_as_of, now)} (the agent is offline; these states are not live)\n`);
      ctx.io.stdout.write(table(['PIPE', 'STATE', 'RECORDS', 'LAST ERROR'], a.pipes.map((p: any) => [p.id, p.state, String(p.records_sent ?? 0), p.last_error ?? '-'])));
    }
    return 0;
  },
};
