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
 * Reads up to `want` entries, newest first, a page at a time. Fusion pages by
 * time only (`until`, inclusive, and `limit`), so the next page starts at the
 * last entry's time and the entries of that millisecond already shown are
 * dropped by id; when one millisecond holds more than a page, the rest of it
 * is skipped with a warning rather than read again forever.
 */
async function readEntries(ctx: CommandContext, filter: URLSearchParams, want: number, until: number | undefined): Promise<{ entries: AuditEntry[]; more: boolean }> {
  const entries: AuditEntry[] = [];
  const seen = new Set<number>();
  let cursor = until;
  for (;;) {
    const atCursor = cursor === undefined ? 0 : entries.filter((e) => e.at === cursor).length;
    // One more than needed tells whether more entries match.
    const limit = Math.min(PAGE_MAX, want - entries.length + atCursor + 1);
    const query = new URLSearchParams(filter);
    if (cursor !== undefined) query.set('until', String(cursor));
    query.set('limit', String(limit));
    const page = (await ctx.client.json<{ entries: AuditEntry[] }>(`/api/v1/management/audit?${query}`)).entries;
    const fresh = page.filter((e) => !seen.has(e.id));
    const taken = fresh.slice(0, want - entries.length);
    for (const e of taken) {
      seen.add(e.id);
      entries.push(e);
    }
    if (entries.length >= want) return { entries, more: fresh.length > taken.length };
    if (page.length < limit) return { entries, more: false };
    const last = page[page.length - 1]!.at;
    if (fresh.length === 0) {
      ctx.io.stderr.write(`more than ${PAGE_MAX} entries at ${new Date(last).toISOString()}: the rest of that millisecond is skipped\n`);
      cursor = last - 1;
    } else {
      cursor = last;
    }
  }
}

export const auditCommand: CliCommand = {
  name: 'audit',
  usage: USAGE,
  summary: 'the audit log of admin writes, newest first (--limit, default 50, or --all; read page by page)',
  options: {
    actor: { type: 'string' },
    target: { type: 'string' },
    method: { type: 'string' },
    outcome: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    all: { type: 'boolean' },
  },
  async run(ctx) {
    const filter = new URLSearchParams();
    for (const name of ['actor', 'target', 'method', 'outcome']) {
      const value = stringFlag(ctx.flags, name);
      if (value !== undefined) filter.set(name, value);
    }
    const since = timeFlag(ctx.flags, 'since', 'ago');
    if (since !== undefined) filter.set('since', String(since));
    const limit = wholeFlag(ctx.flags, 'limit');
    if (limit !== undefined && ctx.flags.all) throw usageError('give --limit or --all, not both');
    if (limit !== undefined && limit < 1) throw usageError('--limit must be at least 1');
    const want = ctx.flags.all ? Number.POSITIVE_INFINITY : (limit ?? DEFAULT_LIMIT);
    const { entries, more } = await readEntries(ctx, filter, want, timeFlag(ctx.flags, 'until', 'ago'));
    if (ctx.json) {
      ctx.io.stdout.write(json(entries));
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
    if (more) ctx.io.stderr.write(`showing the newest ${entries.length}; more match: raise --limit, or --all\n`);
    return 0;
  },
};
