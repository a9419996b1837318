import { AgentId } from '../../shared/protocol/index.js';
import { usageError } from '../errors.js';
import { ago, fields, isoTime, json, shortSignature, table } from '../format.js';
import { required, type CliCommand, type CommandContext } from './context.js';

/** An agent id from the command line, checked before it goes into a URL. */
export function agentIdArg(ctx: CommandContext, index: number, usage: string): string {
  const id = required(ctx, index, 'agent', usage);
  if (!AgentId.safeParse(id).success) throw usageError(`invalid agent id "${id}": letters, digits, dot, dash and underscore`);
  return id;
}

export const agentsCommand: CliCommand = {
  name: 'agents',
  usage: 'agents [--json]',
  summary: 'list agents: status, version, address, config state, drift, last seen',
  options: {},
  async run(ctx) {
    const { agents } = await ctx.client.json<{ agents: any[] }>('/api/v1/management/agents');
    if (ctx.json) {
      ctx.io.stdout.write(json(agents));
      return 0;
    }
    if (!agents.length) {
      ctx.io.stdout.write('no agents yet\n');
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
    ]);
    ctx.io.stdout.write(table(['AGENT', 'STATUS', 'VERSION', 'ADDRESS', 'CONFIG', 'DESIRED', 'DRIFT', 'LAST SEEN'], rows));
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
