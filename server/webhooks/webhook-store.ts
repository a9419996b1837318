import type { Sql } from '../store/sql.js';

export interface Webhook {
  id: string;
  name: string;
  url: string;
  /** Event types it receives; `prefix.*` matches a family (e.g. `agent.*`). */
  events: string[];
  created_at: number;
  author: string;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface Delivery {
  id: number;
  webhook_id: string;
  event_type: string;
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: number | null;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  finished_at: number | null;
}

interface WebhookRow extends Omit<Webhook, 'events'> {
  events: string;
}

const toWebhook = (row: WebhookRow): Webhook => ({ ...row, events: JSON.parse(row.events) as string[] });

/** Webhook subscriptions and their deliveries (the delivery log is also the retry queue, so a restart loses none). */
export class WebhookStore {
  constructor(private readonly sql: Sql) {}

  async create(hook: Webhook): Promise<void> {
    await this.sql.run('INSERT INTO webhooks (id, name, url, events, created_at, author) VALUES (?, ?, ?, ?, ?, ?)', [hook.id, hook.name, hook.url, JSON.stringify(hook.events), hook.created_at, hook.author]);
  }

  async get(id: string): Promise<Webhook | undefined> {
    const row = await this.sql.get<WebhookRow>('SELECT * FROM webhooks WHERE id = ?', [id]);
    return row ? toWebhook(row) : undefined;
  }

  async list(): Promise<Webhook[]> {
    return ((await this.sql.all<WebhookRow>('SELECT * FROM webhooks ORDER BY created_at, id'))).map(toWebhook);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM webhooks WHERE id = ?', [id])).changes === 1;
  }

  /** Queues one delivery per webhook, in one transaction; returns their ids. */
  enqueue(hooks: Webhook[], eventType: string, payload: string, now: number): Promise<number[]> {
    const insert = "INSERT INTO webhook_deliveries (webhook_id, event_type, payload, status, next_attempt_at, created_at) VALUES (?, ?, ?, 'pending', ?, ?) RETURNING id";
    return this.sql.transaction(async () => {
      const ids: number[] = [];
      for (const hook of hooks) ids.push(Number((await this.sql.get<{ id: number }>(insert, [hook.id, eventType, payload, now, now]))?.id));
      return ids;
    });
  }

  /**
   * Takes up to `limit` due deliveries for this process: they are moved to
   * `claimUntil`, so another replica's dispatcher does not send them too
   * (PostgreSQL skips rows another claim holds). A claimer that dies leaves
   * them due again at `claimUntil` (at least once, never lost).
   */
  async claimDue(now: number, limit: number, claimUntil: number): Promise<Delivery[]> {
    const skipLocked = this.sql.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
    return await this.sql.all<Delivery>(
      `UPDATE webhook_deliveries SET next_attempt_at = ?
       WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?${skipLocked})
       RETURNING *`,
      [claimUntil, now, limit],
    );
  }

  /** Pending deliveries of one webhook (to bound its backlog). */
  async pendingCount(webhookId: string): Promise<number> {
    return Number((await this.sql.get<{ n: number }>("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND status = 'pending'", [webhookId]))?.n ?? 0);
  }

  /** Records one attempt: succeeded, failed for good, or pending again at `nextAttemptAt`. */
  async attempted(id: number, outcome: { status: DeliveryStatus; httpStatus: number | null; error: string | null; nextAttemptAt: number | null; now: number }): Promise<void> {
    await this.sql.run(`UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?, last_status = ?, last_error = ?, next_attempt_at = ?,
           finished_at = ?
         WHERE id = ?`, [outcome.status, outcome.httpStatus, outcome.error, outcome.nextAttemptAt, outcome.status === 'pending' ? null : outcome.now, id]);
  }

  /** One page of a webhook's deliveries, newest first (`before`: an id from the previous page). */
  async deliveries(webhookId: string, limit: number, before?: number): Promise<{ deliveries: Delivery[]; next: number | null }> {
    const rows = await this.sql.all<Delivery>(`SELECT * FROM webhook_deliveries WHERE webhook_id = ? ${before !== undefined ? 'AND id < ?' : ''} ORDER BY id DESC LIMIT ?`, (before !== undefined ? [webhookId, before, limit + 1] : [webhookId, limit + 1]));
    const more = rows.length > limit;
    if (more) rows.pop();
    return { deliveries: rows, next: more ? rows.at(-1)!.id : null };
  }
}
