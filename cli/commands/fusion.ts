import { ifMatchHeader, readDocument, unquote, writeDocument } from '../documents.js';
import { usageError } from '../errors.js';
import { json } from '../format.js';
import { required, type CliCommand, type CommandContext } from './context.js';

const USAGE = 'fusion config get|set|reload [file] [--if-match SIGNATURE] [--json]';
const BASE = '/api/v1/management';

/** What Fusion answers a save or a reload: the applied file and what changed in each section. */
interface Applied {
  path: string;
  signature: string;
  changes: Record<'receivers' | 'views' | 'pipes', { added: string[]; removed: string[]; changed: string[] }>;
}

/** `receivers: +r2 ~r1; pipes: -p3`, or `no change`. */
export function describeChanges(changes: Applied['changes']): string {
  const parts = Object.entries(changes).flatMap(([section, c]) => {
    const items = [...c.added.map((id) => `+${id}`), ...c.removed.map((id) => `-${id}`), ...c.changed.map((id) => `~${id}`)];
    return items.length ? [`${section}: ${items.join(' ')}`] : [];
  });
  return parts.length ? parts.join('; ') : 'no change';
}

function printApplied(ctx: CommandContext, verb: string, applied: Applied): void {
  ctx.io.stdout.write(ctx.json ? json(applied) : `${verb} ${applied.path}: ${applied.signature} (${describeChanges(applied.changes)})\n`);
}

async function get(ctx: CommandContext): Promise<number> {
  const file = ctx.args[2];
  // --json: the file, its validity, problems and normalised document.
  const res = await ctx.client.request(`${BASE}/config`, { accept: ctx.json ? 'application/json' : 'application/yaml' });
  const signature = res.headers.get('x-config-signature') ?? unquote(res.headers.get('etag'));
  await writeDocument(ctx, file, ctx.json ? json(JSON.parse(res.text)) : res.text, signature);
  return 0;
}

async function set(ctx: CommandContext): Promise<number> {
  const { text, isJson } = await readDocument(ctx, ctx.args[2]);
  const ifMatch = ifMatchHeader(ctx.flags);
  const applied = await ctx.client.json<Applied>(`${BASE}/config`, {
    method: 'POST',
    body: text,
    contentType: isJson ? 'application/json' : 'application/yaml',
    ...(ifMatch ? { headers: ifMatch } : {}),
  });
  printApplied(ctx, 'applied', applied);
  return 0;
}

async function reload(ctx: CommandContext): Promise<number> {
  printApplied(ctx, 'reloaded', await ctx.client.json<Applied>(`${BASE}/reload`, { method: 'POST' }));
  return 0;
}

/**
 * Fusion's own config file (fusion.yaml: receivers, views, pipes and their
 * API keys): print it, save a new one (applied at once) or re-read the file
 * after editing it on the host. Needs an admin token with the admin role.
 */
export const fusionCommand: CliCommand = {
  name: 'fusion',
  usage: USAGE,
  summary: "Fusion's own fusion.yaml: print it (to a file readable by its owner only), save one (applied at once), or reload it from disk",
  options: { 'if-match': { type: 'string' } },
  run(ctx) {
    const section = required(ctx, 0, 'config', USAGE);
    if (section !== 'config') throw usageError(`unknown fusion section "${section}"; usage: fustorctl ${USAGE}`);
    const action = required(ctx, 1, 'get|set|reload', USAGE);
    if (action === 'get') return get(ctx);
    if (action === 'set') return set(ctx);
    if (action === 'reload') return reload(ctx);
    throw usageError(`unknown fusion config action "${action}"; usage: fustorctl ${USAGE}`);
  },
};
