import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { AgentId } from '../../../shared/protocol/index.js';
import { usageError } from '../errors.js';
import { json } from '../format.js';
import { readAll } from '../io.js';
import { required, type CliCommand, type CommandContext } from './context.js';

const USAGE = 'config get|set <agent|group> [file] [--group] [--revision N] [--if-match SIGNATURE] [--json]';

/**
 * The config route of an agent, or of a group with `--group` (the group's
 * template, once Fusion has groups; until then Fusion answers 404).
 */
function configPath(ctx: CommandContext): { path: string; label: string } {
  const target = required(ctx, 1, 'agent|group', USAGE);
  if (!AgentId.safeParse(target).success) throw usageError(`invalid ${ctx.flags.group ? 'group' : 'agent'} name "${target}"`);
  const name = encodeURIComponent(target);
  return ctx.flags.group
    ? { path: `/api/v1/management/groups/${name}/config`, label: `group ${target}` }
    : { path: `/api/v1/management/agents/${name}/config`, label: `agent ${target}` };
}

async function getConfig(ctx: CommandContext): Promise<number> {
  const { path } = configPath(ctx);
  const file = ctx.args[2];
  let route = path;
  if (ctx.flags.revision !== undefined) {
    const revision = Number(ctx.flags.revision);
    if (!Number.isInteger(revision) || revision < 1) throw usageError('--revision must be a positive whole number');
    route = `${path}/history/${revision}`;
  }
  const res = await ctx.client.request(route, { accept: ctx.json ? 'application/json' : 'application/yaml' });
  const text = ctx.json ? json(JSON.parse(res.text)) : res.text;
  if (file && file !== '-') {
    // Agent configs carry sender credentials: the copy is readable by its owner only.
    await writeFile(file, text, { mode: 0o600 });
    ctx.io.stderr.write(`wrote ${file} (revision ${res.headers.get('x-config-revision') ?? '?'}, ${unquote(res.headers.get('etag'))})\n`);
  } else {
    ctx.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }
  return 0;
}

async function setConfig(ctx: CommandContext): Promise<number> {
  const { path, label } = configPath(ctx);
  const file = ctx.args[2];
  let text: string;
  if (file && file !== '-') {
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw usageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  } else {
    if (!ctx.io.stdin) throw usageError('give a file, or pipe the config into stdin');
    text = await readAll(ctx.io.stdin);
  }
  const isJson = file ? extname(file).toLowerCase() === '.json' : text.trimStart().startsWith('{');
  const ifMatch = typeof ctx.flags['if-match'] === 'string' ? { 'if-match': `"${unquote(ctx.flags['if-match'])}"` } : undefined;
  const saved = await ctx.client.json<{ revision: number; signature: string }>(path, {
    method: 'POST',
    body: text,
    contentType: isJson ? 'application/json' : 'application/yaml',
    ...(ifMatch ? { headers: ifMatch } : {}),
  });
  ctx.io.stdout.write(ctx.json ? json(saved) : `saved ${label}: revision ${saved.revision}, ${saved.signature}\n`);
  return 0;
}

function unquote(value: string | null | undefined): string {
  return (value ?? '?').replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

export const configCommand: CliCommand = {
  name: 'config',
  usage: USAGE,
  summary: 'print or save the desired config of an agent (or a group template with --group); set reads the file or stdin',
  options: { group: { type: 'boolean' }, revision: { type: 'string' }, 'if-match': { type: 'string' } },
  run(ctx) {
    const action = required(ctx, 0, 'get|set', USAGE);
    if (action === 'get') return getConfig(ctx);
    if (action === 'set') return setConfig(ctx);
    throw usageError(`unknown config action "${action}"; usage: fustorctl ${USAGE}`);
  },
};
