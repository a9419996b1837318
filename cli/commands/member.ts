import { parseDocumentText } from '../../shared/config/index.js';
import { AgentId } from '../../shared/protocol/index.js';
import { readDocument } from '../documents.js';
import { usageError } from '../errors.js';
import { fields, json } from '../format.js';
import { required, type CliCommand, type CommandContext } from './context.js';
import { dryRunQuery, printPreview, type PreviewJson } from './preview-print.js';

const USAGE =
  'member <group> <agent> [add|set] [--var NAME=VALUE ...] [--override FILE | --no-override] [--dry-run [--limit N] [--offset N]] [--json]\n' +
  '        (add puts the agent in the group with exactly these; set changes the given parts of a member)';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** The API's own limits (256 variables); checked here too so a typo'd loop fails before it sends anything. */
const MAX_VARS = 256;

/** `--var NAME=VALUE` flags → the variables map. */
function variablesOf(flags: CommandContext['flags']): Record<string, string> | undefined {
  const given = flags.var;
  if (given === undefined) return undefined;
  const list = Array.isArray(given) ? given : [String(given)];
  if (list.length > MAX_VARS) throw usageError(`at most ${MAX_VARS} --var flags`);
  const variables: Record<string, string> = {};
  for (const pair of list) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw usageError(`--var takes NAME=VALUE, not "${pair}"`);
    variables[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return variables;
}

/** `--override FILE` (YAML or JSON, `-` for stdin) → the override object; `--no-override` → null (removes it). */
async function overrideOf(ctx: CommandContext): Promise<Record<string, unknown> | null | undefined> {
  if (ctx.flags['no-override'] === true) {
    if (ctx.flags.override !== undefined) throw usageError('give --override FILE or --no-override, not both');
    return null;
  }
  if (typeof ctx.flags.override !== 'string') return undefined;
  const { text, isJson } = await readDocument(ctx, ctx.flags.override);
  const parsed = parseDocumentText(text, isJson ? 'json' : 'yaml');
  if (!parsed.ok) throw usageError(`--override ${ctx.flags.override}: ${parsed.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  if (parsed.value === null || typeof parsed.value !== 'object' || Array.isArray(parsed.value)) throw usageError(`--override ${ctx.flags.override}: must be a mapping`);
  return parsed.value as Record<string, unknown>;
}

interface MemberJson {
  agent_id: string;
  group_name: string;
  variables: Record<string, string>;
  override: Record<string, unknown> | null;
  assigned_by: string;
  rendered_revision: number | null;
  config?: { revision: number | null; signature: string; changed: boolean };
}

type MemberAnswer = MemberJson | (PreviewJson & { dry_run: true }) | { change: { id: string; group_name: string } };

function describe(m: MemberJson): Array<[string, string]> {
  const vars = Object.entries(m.variables);
  return [
    ['member', `${m.agent_id} of group ${m.group_name} (put in by ${m.assigned_by})`],
    ['variables', vars.length === 0 ? '-' : vars.map(([k, v]) => `${k}=${v}`).join(', ')],
    ['override', m.override === null ? '-' : JSON.stringify(m.override)],
    ['rendered', m.rendered_revision === null ? '-' : `from template revision ${m.rendered_revision}`],
    ...(m.config ? [['config', `revision ${m.config.revision ?? '-'}, ${m.config.signature}${m.config.changed ? ' (changed, pushed)' : ' (unchanged)'}`] as [string, string]] : []),
  ];
}

export const memberCommand: CliCommand = {
  name: 'member',
  usage: USAGE,
  summary: "a group member's variables and override; add or set them (in a group that requires review: a change another admin approves)",
  options: {
    var: { type: 'string', multiple: true },
    override: { type: 'string' },
    'no-override': { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    limit: { type: 'string' },
    offset: { type: 'string' },
  },
  async run(ctx) {
    const group = required(ctx, 0, 'group', USAGE);
    const agent = required(ctx, 1, 'agent', USAGE);
    if (!NAME.test(group)) throw usageError(`invalid group name "${group}"`);
    if (!AgentId.safeParse(agent).success) throw usageError(`invalid agent id "${agent}"`);
    const path = `/api/v1/management/groups/${encodeURIComponent(group)}/members/${encodeURIComponent(agent)}`;
    const action = ctx.args[2];
    if (action === undefined) {
      const member = await ctx.client.json<MemberJson>(path);
      ctx.io.stdout.write(ctx.json ? json(member) : fields(describe(member)));
      return 0;
    }
    if (action !== 'add' && action !== 'set') throw usageError(`unknown member action "${action}"; usage: fustorctl ${USAGE}`);
    const variables = variablesOf(ctx.flags);
    const override = await overrideOf(ctx);
    if (action === 'set' && variables === undefined && override === undefined) throw usageError('member set needs --var, --override or --no-override');
    const body = { ...(variables !== undefined && { variables }), ...(override !== undefined && { override }) };
    const query = ctx.flags['dry-run'] === true ? `?${dryRunQuery(ctx.flags)}` : '';
    const answer = await ctx.client.json<MemberAnswer>(`${path}${query}`, {
      method: action === 'add' ? 'PUT' : 'PATCH',
      body: JSON.stringify(body),
      contentType: 'application/json',
    });
    if ('dry_run' in answer) {
      printPreview(ctx, answer);
      return 0;
    }
    if ('change' in answer) {
      const c = answer.change;
      ctx.io.stdout.write(ctx.json ? json(answer) : `group ${c.group_name} requires review: change ${c.id} waits for another admin (fustorctl change ${c.id} approve); nothing was changed\n`);
      return 0;
    }
    ctx.io.stdout.write(ctx.json ? json(answer) : fields(describe(answer)));
    return 0;
  },
};
