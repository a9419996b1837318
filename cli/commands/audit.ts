import { usageError } from '../errors.js';
import { json, table } from '../format.js';
import { stringFlag, timeFlag, wholeFlag } from '../flags.js';
import type { CliCommand, CommandContext } from './context.js';

const USAGE =
  'audit [--actor NAME] [--target PREFIX] [--method POST|PUT|PATCH|DELETE] [--outcome success|failure|denied]\n' +
  '        [--since TIME] [--until TIME] [--limit N | --all] [--json]';
const DEFAULT_LIMIT = 50;
/** The most entries Fusion returns for one request. */
const PAGE_MAX = 1000;

interface AuditEntry {
  id: number;
  at: number;
  actor: string | null;
  role: string | null;
  address: string | null;
  method: string;
  path: string;
  query: string | null;
  target: string | null;
  status: number;
  outcome: string;
  error_code: string | null;
}

/**
 * Reads up to `want` entries, newest first, from `cursor` on, a page (at most
 * 1,000 entries) at a time, following Fusion's `next_cursor`; `next` is the
 * cursor of the entries past the last one read (null when none match).
 */
async function readEntries(ctx: CommandContext, filter: URLSearchParams, want: number, cursor: string | null): Promise<{ entries: AuditEntry[]; next: string | null }> {
  const entries: AuditEntry[] = [];
  for (;;) {
    const query = new URLSearchParams(filter);
    query.set('limit', String(Math.min(PAGE_MAX, want - entries.length)));
    if (cursor !== null) query.set('cursor', cursor);
    const page = await ctx.client.json<{ entries: AuditEntry[]; next_cursor: string | null }>(`/api/v1/management/audit?${query}`);
    entries.push(...page.entries);
    cursor = page.next_cursor;
    if (cursor === null || entries.length >= want) return { entries, next: cursor };
  }
}

export const auditCommand: CliCommand = {
  name: 'audit',
  usage: USAGE,
  summary: 'the audit log of admin writes, newest first: --limit entries (default 50) from --cursor, or --all, read page by page',
  options: {
    actor: { type: 'string' },
    target: { type: 'string' },
    method: { type: 'string' },
    outcome: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
    all: { type: 'boolean' },
  },
  async run(ctx) {
    const filter = new URLSearchParams();
    for (const name of ['actor', 'target', 'method', 'outcome']) {
      const value = stringFlag(ctx.flags, name);
      if (value !== undefined) filter.set(name, value);
    }
    for (const name of ['since', 'until']) {
      const at = timeFlag(ctx.flags, name, 'ago');
      if (at !== undefined) filter.set(name, String(at));
    }
    const limit = wholeFlag(ctx.flags, 'limit');
    if (limit !== undefined && ctx.flags.all) throw usageError('give --limit or --all, not both');
    if (ctx.flags.cursor !== undefined && ctx.flags.all) throw usageError('--all and --cursor do not go together');
    if (limit !== undefined && limit < 1) throw usageError('--limit must be at least 1');
    const want = ctx.flags.all ? Number.POSITIVE_INFINITY : (limit ?? DEFAULT_LIMIT);
    const { entries, next } = await readEntries(ctx, filter, want, stringFlag(ctx.flags, 'cursor') ?? null);
    if (ctx.json) {
      ctx.io.stdout.write(json({ entries, next_cursor: next }));
      return 0;
    }
    if (!entries.length) {
      ctx.io.stdout.write('no audit entries\n');
      return 0;
    }
    const rows = entries.map((e) => [
      new Date(e.at).toISOString(),
      e.actor ?? '-',
      e.role ?? '-',
      e.method,
      e.query ? `${e.path}?${e.query}` : e.path,
      String(e.status),
      e.error_code ? `${e.outcome} (${e.error_code})` : e.outcome,
    ]);
    ctx.io.stdout.write(table(['TIME', 'ACTOR', 'ROLE', 'METHOD', 'PATH', 'STATUS', 'OUTCOME'], rows));
    if (next) ctx.io.stderr.write(`more entries: --cursor ${next} (or --all)\n`);
    return 0;
  },
};
