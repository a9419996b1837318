import YAML from 'yaml';
import { COMMAND_TYPES, CommandStatus, TERMINAL_COMMAND_STATUSES, type CommandStatus as Status } from '../../shared/protocol/index.js';
import { CliError, usageError } from '../errors.js';
import { ago, duration, json, table } from '../format.js';
import { agentIdArg } from './agents.js';
import { required, type CliCommand, type CommandContext } from './context.js';

const USAGE = 'command (<agent> | --selector SEL) <type> [--arg key=value]... [--wait] [--timeout SECONDS] [--ttl SECONDS] [--json]';
/** Longest single long-poll Fusion allows, in seconds. */
const MAX_POLL_SECONDS = 60;
const DEFAULT_WAIT_SECONDS = 120;

/** `key=value` → an entry; `true` / `false` and numbers are typed, JSON objects and arrays parsed, the rest is a string. */
export function parseArg(raw: string): [string, unknown] {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw usageError(`--arg expects key=value, got "${raw}"`);
  const key = raw.slice(0, eq);
  const text = raw.slice(eq + 1);
  if (text === 'true' || text === 'false') return [key, text === 'true'];
  if (/^-?\d+(\.\d+)?$/.test(text)) return [key, Number(text)];
  if (/^[[{]/.test(text)) {
    try {
      return [key, JSON.parse(text) as unknown];
    } catch {
      throw usageError(`--arg ${key}: "${text}" is not valid JSON`);
    }
  }
  return [key, text];
}

function seconds(value: unknown, flag: string, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw usageError(`${flag} must be a positive number of seconds`);
  return n;
}

/** Long-polls the command until it is terminal or `timeoutSeconds` pass. */
export async function waitTerminal(ctx: CommandContext, id: string, timeoutSeconds: number): Promise<any> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const left = Math.max(0, (deadline - Date.now()) / 1000);
    const wait = Math.min(MAX_POLL_SECONDS, Math.ceil(left * 10) / 10);
    const record = await ctx.client.json<any>(`/api/v1/management/commands/${encodeURIComponent(id)}?wait=${wait}`, ctx.io.signal ? { signal: ctx.io.signal } : {});
    if (TERMINAL_COMMAND_STATUSES.has(record.status as Status)) return record;
    if (Date.now() >= deadline) throw new CliError(`command ${id} is still ${record.status} after ${timeoutSeconds}s`, 1, 'timeout');
  }
}

function describeResult(record: any): string {
  const took = record.finished_at && record.created_at ? ` in ${duration(record.finished_at - record.created_at)}` : '';
  const lines = [`command ${record.id} ${record.status}${took} (${record.type} on ${record.agent_id})`];
  if (record.error) lines.push(`error: ${record.error}`);
  if (record.output !== null && record.output !== undefined) lines.push('output:', YAML.stringify(record.output).trimEnd().replace(/^/gm, '  '));
  return `${lines.join('\n')}\n`;
}

export const commandCommand: CliCommand = {
  name: 'command',
  usage: USAGE,
  summary: `send a command (${COMMAND_TYPES.join(', ')}); --wait follows it to the end`,
  options: {
    arg: { type: 'string', multiple: true },
    wait: { type: 'boolean' },
    timeout: { type: 'string' },
    ttl: { type: 'string' },
    selector: { type: 'string', short: 'l' },
  },
  async run(ctx) {
    const args = Object.fromEntries(((ctx.flags.arg as string[] | undefined) ?? []).map(parseArg));
    const ttl = seconds(ctx.flags.ttl, '--ttl');
    if (typeof ctx.flags.selector === 'string') {
      if (ctx.flags.wait) throw usageError('--wait follows one command; with --selector, watch them with `fustorctl commands`');
      const type = required(ctx, 0, 'type', USAGE);
      const created = await ctx.client.json<any>('/api/v1/management/commands', {
        method: 'POST',
        contentType: 'application/json',
        body: JSON.stringify({ type, args, agents: { selector: ctx.flags.selector }, ...(ttl !== undefined ? { ttl_seconds: Math.round(ttl) } : {}) }),
      });
      ctx.io.stdout.write(ctx.json ? json(created) : `${created.count} ${type} commands queued (batch ${created.batch_id})\n`);
      return 0;
    }
    const agentId = agentIdArg(ctx, 0, USAGE);
    const type = required(ctx, 1, 'type', USAGE);
    const timeout = seconds(ctx.flags.timeout, '--timeout', DEFAULT_WAIT_SECONDS)!;
    const created = await ctx.client.json<any>(`/api/v1/management/agents/${encodeURIComponent(agentId)}/command`, {
      method: 'POST',
      contentType: 'application/json',
      body: JSON.stringify({ type, args, ...(ttl !== undefined ? { ttl_seconds: Math.round(ttl) } : {}) }),
    });
    if (!ctx.flags.wait) {
      ctx.io.stdout.write(ctx.json ? json(created) : `command ${created.id} ${created.status} (${created.type} for ${created.agent_id})\n`);
      return 0;
    }
    if (!ctx.json) ctx.io.stderr.write(`command ${created.id} ${created.status}; waiting up to ${timeout}s for ${agentId}...\n`);
    const done = await waitTerminal(ctx, created.id, timeout);
    ctx.io.stdout.write(ctx.json ? json(done) : describeResult(done));
    return done.status === 'succeeded' ? 0 : 1;
  },
};

export const commandsCommand: CliCommand = {
  name: 'commands',
  usage: 'commands [--agent ID] [--status STATUS] [--type TYPE] [--limit N] [--json]',
  summary: 'command history, newest first',
  options: { agent: { type: 'string' }, status: { type: 'string' }, type: { type: 'string' }, limit: { type: 'string' } },
  async run(ctx) {
    const query = new URLSearchParams();
    if (typeof ctx.flags.agent === 'string') query.set('agent_id', ctx.flags.agent);
    if (typeof ctx.flags.status === 'string') {
      if (!CommandStatus.safeParse(ctx.flags.status).success) throw usageError(`--status must be one of ${CommandStatus.options.join(', ')}`);
      query.set('status', ctx.flags.status);
    }
    if (typeof ctx.flags.type === 'string') query.set('type', ctx.flags.type);
    if (typeof ctx.flags.limit === 'string') query.set('limit', ctx.flags.limit);
    const { commands } = await ctx.client.json<{ commands: any[] }>(`/api/v1/management/commands${query.size ? `?${query}` : ''}`);
    if (ctx.json) {
      ctx.io.stdout.write(json(commands));
      return 0;
    }
    if (!commands.length) {
      ctx.io.stdout.write('no commands\n');
      return 0;
    }
    const now = Date.now();
    const rows = commands.map((c) => [c.id, c.agent_id, c.type, c.status, ago(c.created_at, now), c.author, c.error ?? '']);
    ctx.io.stdout.write(table(['ID', 'AGENT', 'TYPE', 'STATUS', 'CREATED', 'BY', 'ERROR'], rows));
    return 0;
  },
};
