import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { AgentId } from '../../shared/protocol/index.js';
import { usageError } from '../errors.js';
import { json } from '../format.js';
import { readAll } from '../io.js';
import { required, type CliCommand, type CommandContext } from './context.js';

const USAGE =
  'config get|set <agent|group> [file] [--group] [--revision N] [--if-match SIGNATURE] [--json]\n' +
  '        (set --group) [--batch-size N | --percent P] [--pause SECONDS] [--max-failures N] [--batch-timeout SECONDS]';

/** Staged rollout flags of a group save → the template route's query parameters. */
const ROLLOUT_FLAGS: Record<string, string> = {
  'batch-size': 'batch_size',
  percent: 'percent',
  pause: 'pause_seconds',
  'max-failures': 'max_failures',
  'batch-timeout': 'batch_timeout_seconds',
};

/**
 * The rollout of a group save as a query string: `strategy=batches&...` when
 * a batch flag is given, `strategy=all&batch_timeout_seconds=...` for a timeout
 * alone, empty for none. Fusion checks the values (400 naming the problem).
 */
export function rolloutQuery(flags: CommandContext['flags'], isGroup: boolean): string {
  const given = Object.keys(ROLLOUT_FLAGS).filter((flag) => flags[flag] !== undefined);
  if (given.length === 0) return '';
  if (!isGroup) throw usageError(`--${given[0]} stages a group rollout: it needs --group`);
  const batched = given.some((flag) => flag !== 'batch-timeout');
  const query = new URLSearchParams({ strategy: batched ? 'batches' : 'all' });
  for (const flag of given) query.set(ROLLOUT_FLAGS[flag]!, String(flags[flag]));
  return `?${query.toString()}`;
}

/** Where an agent's desired config, or a group's template (`--group`), is read and written. */
interface ConfigTarget {
  label: string;
  /** The current document, or one revision of it. */
  readPath(revision?: number): string;
  /** JSON answers (`--json`) come from here. */
  jsonPath(revision?: number): string;
  write: { method: 'POST' | 'PUT'; path: string };
  revisionHeader: string;
}

function configTarget(ctx: CommandContext): ConfigTarget {
  const target = required(ctx, 1, 'agent|group', USAGE);
  if (!AgentId.safeParse(target).success) throw usageError(`invalid ${ctx.flags.group ? 'group' : 'agent'} name "${target}"`);
  const name = encodeURIComponent(target);
  if (ctx.flags.group) {
    const base = `/api/v1/management/groups/${name}`;
    return {
      label: `group ${target}`,
      readPath: (r) => (r ? `${base}/history/${r}` : `${base}/template`),
      jsonPath: (r) => (r ? `${base}/history/${r}` : base),
      write: { method: 'PUT', path: `${base}/template` },
      revisionHeader: 'x-template-revision',
    };
  }
  const base = `/api/v1/management/agents/${name}/config`;
  return {
    label: `agent ${target}`,
    readPath: (r) => (r ? `${base}/history/${r}` : base),
    jsonPath: (r) => (r ? `${base}/history/${r}` : base),
    write: { method: 'POST', path: base },
    revisionHeader: 'x-config-revision',
  };
}

async function getConfig(ctx: CommandContext): Promise<number> {
  const target = configTarget(ctx);
  const file = ctx.args[2];
  let revision: number | undefined;
  if (ctx.flags.revision !== undefined) {
    revision = Number(ctx.flags.revision);
    if (!Number.isInteger(revision) || revision < 1) throw usageError('--revision must be a positive whole number');
  }
  const res = ctx.json
    ? await ctx.client.request(target.jsonPath(revision), { accept: 'application/json' })
    : await ctx.client.request(target.readPath(revision), { accept: 'application/yaml' });
  const text = ctx.json && res.headers.get('content-type')?.includes('json') ? json(JSON.parse(res.text)) : res.text;
  if (file && file !== '-') {
    // Configs carry sender credentials: the copy is readable by its owner only.
    await writeFile(file, text, { mode: 0o600 });
    ctx.io.stderr.write(`wrote ${file} (revision ${res.headers.get(target.revisionHeader) ?? '?'}, ${res.headers.get('x-config-signature') ?? unquote(res.headers.get('etag'))})\n`);
  } else {
    ctx.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }
  return 0;
}

async function setConfig(ctx: CommandContext): Promise<number> {
  const target = configTarget(ctx);
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
  const query = rolloutQuery(ctx.flags, ctx.flags.group === true);
  const saved = await ctx.client.json<{ revision: number; signature: string; rollout?: { id: string; status: string; batch_count: number } | null }>(`${target.write.path}${query}`, {
    method: target.write.method,
    body: text,
    // A group template is YAML (JSON is YAML too); an agent config may be either.
    contentType: isJson && target.write.method === 'POST' ? 'application/json' : 'application/yaml',
    ...(ifMatch ? { headers: ifMatch } : {}),
  });
  const rollout = saved.rollout ? `; rollout ${saved.rollout.id} ${saved.rollout.status} (${saved.rollout.batch_count} batch(es); fustorctl rollout ${saved.rollout.id})` : '';
  ctx.io.stdout.write(ctx.json ? json(saved) : `saved ${target.label}: revision ${saved.revision}, ${saved.signature}${rollout}\n`);
  return 0;
}

function unquote(value: string | null | undefined): string {
  return (value ?? '?').replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

export const configCommand: CliCommand = {
  name: 'config',
  usage: USAGE,
  summary: 'print or save the desired config of an agent (or a group template with --group); set reads the file or stdin',
  options: {
    group: { type: 'boolean' },
    revision: { type: 'string' },
    'if-match': { type: 'string' },
    ...Object.fromEntries(Object.keys(ROLLOUT_FLAGS).map((flag) => [flag, { type: 'string' as const }])),
  },
  run(ctx) {
    const action = required(ctx, 0, 'get|set', USAGE);
    if (action === 'get') return getConfig(ctx);
    if (action === 'set') return setConfig(ctx);
    throw usageError(`unknown config action "${action}"; usage: fustorctl ${USAGE}`);
  },
};
