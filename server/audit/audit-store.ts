import type { Sql } from '../store/sql.js';

/** One recorded admin write. */
export interface AuditEntry {
  id: number;
  at: number;
  /** Name of the admin token, or null when the request was not authenticated. */
  actor: string | null;
  token_id: string | null;
  role: string | null;
  address: string | null;
  method: string;
  path: string;
  /** The request's query string without its `?` (null when there was none); an `access_token` in it is redacted. */
  query: string | null;
  /** What the write was about, e.g. `agents/node-1/config` or `enrollment-tokens/abc`. */
  target: string | null;
  status: number;
  outcome: 'success' | 'failure' | 'denied';
  error_code: string | null;
  /** What the write did, when its route says more than the path does (e.g. the author of a change a reviewer approved). */
  detail: string | null;
}

export interface AuditFilter {
  actor?: string | undefined;
  target?: string | undefined;
  method?: string | undefined;
  outcome?: AuditEntry['outcome'] | undefined;
  since?: number | undefined;
  until?: number | undefined;
  limit?: number | undefined;
  /** Only entries older than this id (paging). */
  before?: number | undefined;
}

/** The audit log: append-only, newest first when read. */
export class AuditStore {
  constructor(private readonly sql: Sql) {}

  async record(entry: Omit<AuditEntry, 'id'>): Promise<void> {
    await this.sql.run(
      `INSERT INTO audit_log (at, actor, token_id, role, address, method, path, query, target, status, outcome, error_code, detail)
       VALUES (@at, @actor, @token_id, @role, @address, @method, @path, @query, @target, @status, @outcome, @error_code, @detail)`,
      entry,
    );
  }

  async list(filter: AuditFilter): Promise<AuditEntry[]> {
    return (await this.page(filter)).entries;
  }

  /** Newest first, with the id to pass as `before` for the next page (null on the last). */
  async page(filter: AuditFilter): Promise<{ entries: AuditEntry[]; next: number | null }> {
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1000);
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: limit + 1 };
    if (filter.before !== undefined) (where.push('id < @before'), (params.before = filter.before));
    if (filter.actor !== undefined) (where.push('actor = @actor'), (params.actor = filter.actor));
    if (filter.method !== undefined) (where.push('method = @method'), (params.method = filter.method.toUpperCase()));
    if (filter.outcome !== undefined) (where.push('outcome = @outcome'), (params.outcome = filter.outcome));
    if (filter.target !== undefined) (where.push("lower(target) LIKE lower(@target) ESCAPE '\\'"), (params.target = `${filter.target.replace(/[\\%_]/g, '\\$&')}%`));
    if (filter.since !== undefined) (where.push('at >= @since'), (params.since = filter.since));
    if (filter.until !== undefined) (where.push('at <= @until'), (params.until = filter.until));
    const text = `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT @limit`;
    const entries = await this.sql.all<AuditEntry>(text, params);
    const more = entries.length > limit;
    if (more) entries.pop();
    return { entries, next: more ? entries.at(-1)!.id : null };
  }
}
