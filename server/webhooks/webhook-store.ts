import type { Db } from '../store/database.js';

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
  constructor(private readonly db: Db) {}

  create(hook: Webhook): void {
    this.db
      .prepare('INSERT INTO webhooks (id, name, url, events, created_at, author) VALUES (?, ?, ?, ?, ?, ?)')
      .run(hook.id, hook.name, hook.url, JSON.stringify(hook.events), hook.created_at, hook.author);
  }

  get(id: string): Webhook | undefined {
    const row = this.db.prepare('SELECT * FROM webhooks WHERE id = ?').get(id) as WebhookRow | undefined;
    return row ? toWebhook(row) : undefined;
  }

  list(): Webhook[] {
    return (this.db.prepare('SELECT * FROM webhooks ORDER BY created_at, id').all() as WebhookRow[]).map(toWebhook);
  }

  delete(id: string): boolean {
    return this.db.prepare('DELETE FROM webhooks WHERE id = ?').run(id).changes === 1;
  }

  /** Queues one delivery per webhook, in one transaction; returns their ids. */
  enqueue(hooks: Webhook[], eventType: string, payload: string, now: number): number[] {
    const insert = this.db.prepare(
      "INSERT INTO webhook_deliveries (webhook_id, event_type, payload, status, next_attempt_at, created_at) VALUES (?, ?, ?, 'pending', ?, ?)",
    );
    return this.db.transaction(() => hooks.map((hook) => Number(insert.run(hook.id, eventType, payload, now, now).lastInsertRowid)))();
  }

  /** Pending deliveries due by `now`, oldest first. */
  due(now: number, limit: number): Delivery[] {
    return this.db
      .prepare("SELECT * FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?")
      .all(now, limit) as Delivery[];
  }

  /** Pending deliveries of one webhook (to bound its backlog). */
  pendingCount(webhookId: string): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND status = 'pending'").get(webhookId) as { n: number }).n;
  }

  /** Records one attempt: succeeded, failed for good, or pending again at `nextAttemptAt`. */
  attempted(id: number, outcome: { status: DeliveryStatus; httpStatus: number | null; error: string | null; nextAttemptAt: number | null; now: number }): void {
    this.db
      .prepare(
        `UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?, last_status = ?, last_error = ?, next_attempt_at = ?,
           finished_at = CASE WHEN ? = 'pending' THEN NULL ELSE ? END
         WHERE id = ?`,
      )
      .run(outcome.status, outcome.httpStatus, outcome.error, outcome.nextAttemptAt, outcome.status, outcome.now, id);
  }

  /** One page of a webhook's deliveries, newest first (`before`: an id from the previous page). */
  deliveries(webhookId: string, limit: number, before?: number): { deliveries: Delivery[]; next: number | null } {
    const rows = this.db
      .prepare(`SELECT * FROM webhook_deliveries WHERE webhook_id = ? ${before !== undefined ? 'AND id < ?' : ''} ORDER BY id DESC LIMIT ?`)
      .all(...(before !== undefined ? [webhookId, before, limit + 1] : [webhookId, limit + 1])) as Delivery[];
    const more = rows.length > limit;
    if (more) rows.pop();
    return { deliveries: rows, next: more ? rows.at(-1)!.id : null };
  }
}
