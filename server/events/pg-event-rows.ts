import type { Sql } from '../store/sql.js';

/** The notification channel of the cluster's event stream (its own, apart from the agent bus). */
export const EVENTS_CHANNEL = 'fusion_events';
/** Advisory lock serialising inserts (per schema), so ids become visible in increasing order. */
const INSERT_LOCK = 'fusion-events-insert';

/** An event waiting to be stored: its data already JSON (and summarised when too large). */
export interface PendingEvent {
  type: string;
  at: number;
  data: string;
  bytes: number;
}

/**
 * Stores `batch` in one statement, ids in the batch's order, under a
 * transaction advisory lock (so a later id never commits before an earlier
 * one), and notifies {@link EVENTS_CHANNEL} with the newest id.
 */
export async function insertEvents(sql: Sql, replicaId: string, batch: readonly PendingEvent[]): Promise<void> {
  await sql.run(
    `WITH l AS (SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ?, 0))),
     ins AS (
       INSERT INTO events (type, at, origin, bytes, data)
       SELECT e.type, e.at, ?, e.bytes, e.data
       FROM l, unnest(?::text[], ?::bigint[], ?::bigint[], ?::text[]) WITH ORDINALITY AS e(type, at, bytes, data, n)
       ORDER BY e.n
       RETURNING id
     )
     SELECT pg_notify('${EVENTS_CHANNEL}', (SELECT max(id) FROM ins)::text)`,
    [INSERT_LOCK, replicaId, batch.map((e) => e.type), batch.map((e) => e.at), batch.map((e) => e.bytes), batch.map((e) => e.data)],
  );
}

/**
 * Deletes every event but the newest `keepEvents`, those younger than
 * `keepMs` and, newest first, those within `keepBytes`; records the highest
 * id deleted in `event_stream.pruned_through` (replay reaching back past it
 * answers resync). Any replica may run it at any time.
 */
export async function pruneEvents(sql: Sql, bounds: { keepEvents: number; keepMs: number; keepBytes: number }): Promise<void> {
  await sql.run(
    `WITH bounds AS (
       SELECT GREATEST(
         COALESCE((SELECT max(id) FROM events), 0) - @keep,
         COALESCE((SELECT max(id) FROM events WHERE at < @before), 0),
         COALESCE((SELECT max(id) FROM (SELECT id, sum(bytes) OVER (ORDER BY id DESC) AS total FROM events) t WHERE total > @bytes), 0)
       ) AS cutoff
     ), gone AS (
       DELETE FROM events WHERE id <= (SELECT cutoff FROM bounds)
     )
     UPDATE event_stream SET pruned_through = GREATEST(pruned_through, (SELECT cutoff FROM bounds)) WHERE id = 1`,
    { keep: bounds.keepEvents, before: Date.now() - bounds.keepMs, bytes: bounds.keepBytes },
  );
}
