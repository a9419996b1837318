import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../../shared/logger.js';
import type { Sql } from '../store/sql.js';
import { replayCopy, type EventListener, type FusionEvents } from './event-bus.js';
import type { FusionEvent, FusionEventMap, FusionEventType } from './event-types.js';
import { EVENTS_CHANNEL, insertEvents, pruneEvents, type PendingEvent } from './pg-event-rows.js';

export { EVENTS_CHANNEL } from './pg-event-rows.js';

/** An event whose data is larger is stored (and sent, on every replica) as a summary. */
export const MAX_STORED_EVENT_BYTES = 256 * 1024;

export interface PgEventBusOptions {
  /** Stores and reads the events (statements count in fusion_db_statements_total). */
  sql: Sql;
  /** Connection string of the listening connection (one per replica, outside the pool). */
  url: string;
  /** This replica's id, stored with each event it publishes. */
  replicaId: string;
  log: Logger;
  /** Events kept for replay: the newest `keepEvents` (default 10,000) … */
  keepEvents?: number;
  /** … no older than this (default an hour) … */
  keepMs?: number;
  /** … holding at most this much data together (default 64 MiB). */
  keepBytes?: number;
  /** How often the table is cut back to those bounds. Default 10 s. */
  pruneIntervalMs?: number;
  /** How long a missing id may stay missing before the events after it are dispatched without it. Default 2 s. */
  gapWindowMs?: number;
  /** Wait before listening again after the connection broke. Default 1 s. */
  reconnectMs?: number;
  /** Events waiting to be stored past which the oldest are dropped (the database is unreachable). Default 10,000. */
  maxPending?: number;
}

const PAGE = 1000;
const INSERT_BATCH = 500;

interface EventRow {
  id: number | string;
  type: string;
  at: number | string;
  origin: string;
  data: string;
}

/**
 * The event stream of replicas on one PostgreSQL. `publish` queues the event
 * and a writer stores the queue in one statement (INSERT … RETURNING, then
 * `pg_notify` on {@link EVENTS_CHANNEL}); every replica LISTENs, reads the
 * rows after the last it dispatched and hands them to its listeners in id
 * order, so every replica sees every event under the same id, and a client
 * can resume (`Last-Event-ID`) on any replica.
 *
 * Order: inserts hold a transaction advisory lock, so a later id never
 * commits before an earlier one. An id can still be missing for good (an
 * insert that failed after taking its id): a reader that finds a hole waits
 * `gapWindowMs` for it, then goes on without it.
 *
 * Lost notifications (the listening connection broke) are made up for by
 * reading from the last dispatched id when listening again. The table is
 * bounded: it is cut back every `pruneIntervalMs` to the newest events by
 * count, age and bytes; `event_stream.pruned_through` says what is gone, so
 * a replay that reaches back past it answers `undefined` (resync).
 */
export class PgEventBus implements FusionEvents {
  instance = '';
  lastEventId = 0;
  private readonly listeners = new Set<EventListener>();
  private readonly own = new Set<EventListener>();
  private readonly closeHooks = new Set<() => void>();
  private pending: PendingEvent[] = [];
  private wake: (() => void) | undefined;
  private writer: Promise<void> | undefined;
  private client: pg.Client | undefined;
  private reading: Promise<void> | undefined;
  private readAgain = false;
  private gapSince: number | undefined;
  private gapTimer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(private readonly o: PgEventBusOptions) {}

  /** Opens the stream: its id space, the newest id (where this replica starts), LISTEN and the writer. */
  static async start(options: PgEventBusOptions): Promise<PgEventBus> {
    const bus = new PgEventBus(options);
    const { sql } = options;
    await sql.run('INSERT INTO event_stream (id, epoch, pruned_through) VALUES (1, ?, 0) ON CONFLICT (id) DO NOTHING', [randomBytes(4).toString('hex')]);
    const stream = await sql.get<{ epoch: string }>('SELECT epoch FROM event_stream WHERE id = 1');
    bus.instance = stream!.epoch;
    await bus.listen();
    const newest = await sql.get<{ id: number | string | null }>('SELECT max(id) AS id FROM events');
    bus.lastEventId = Number(newest?.id ?? 0);
    // Started here, outside any caller's transaction: the writer's statements never join one.
    bus.writer = bus.writeLoop();
    bus.pruneTimer = setInterval(() => bus.prune().catch((err: unknown) => options.log.warn({ err }, 'cannot prune the event stream')), options.pruneIntervalMs ?? 10_000);
    bus.pruneTimer.unref();
    return bus;
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  publish<K extends FusionEventType>(type: K, data: FusionEventMap[K]): void {
    if (this.closed) return;
    const at = Date.now();
    const { event, bytes } = replayCopy({ id: 0, type, at, data } as FusionEvent, MAX_STORED_EVENT_BYTES);
    if (this.pending.length >= (this.o.maxPending ?? 10_000)) {
      this.pending.shift();
      this.o.log.warn({ event: type }, 'events cannot be stored fast enough; the oldest waiting one was dropped');
    }
    this.pending.push({ type, at, data: JSON.stringify(event.data), bytes });
    this.wake?.();
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  subscribeOwn(listener: EventListener): () => void {
    this.own.add(listener);
    return () => this.own.delete(listener);
  }

  async replay(after: number, upTo: number): Promise<FusionEvent[] | undefined> {
    if (after >= upTo) return [];
    const rows = await this.o.sql.all<EventRow>('SELECT id, type, at, origin, data FROM events WHERE id > ? AND id <= ? ORDER BY id LIMIT ?', [after, upTo, (this.o.keepEvents ?? 10_000) + PAGE]);
    // Read after the rows: pruning only moves forward, so this is never too optimistic.
    const stream = await this.o.sql.get<{ pruned_through: number | string }>('SELECT pruned_through FROM event_stream WHERE id = 1');
    if (after < Number(stream?.pruned_through ?? 0)) return undefined;
    return rows.map((row) => replayCopy(toEvent(row)).event);
  }

  onClose(hook: () => void): () => void {
    this.closeHooks.add(hook);
    return () => this.closeHooks.delete(hook);
  }

  /** Stores what is still queued (bounded by the writer's own retry), stops listening, ends the streams. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    await this.writer;
    for (const timer of [this.gapTimer, this.retry]) if (timer) clearTimeout(timer);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
    await this.reading;
    this.listeners.clear();
    this.own.clear();
    for (const hook of [...this.closeHooks]) {
      try {
        hook();
      } catch (err) {
        this.o.log.error({ err }, 'event bus close hook failed');
      }
    }
    this.closeHooks.clear();
  }

  /** Stores the queue in batches until closed; on a failure waits a second and tries again (bounded at close). */
  private async writeLoop(): Promise<void> {
    let failuresAtClose = 0;
    for (;;) {
      if (!this.pending.length) {
        if (this.closed) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      const batch = this.pending.slice(0, INSERT_BATCH);
      try {
        await insertEvents(this.o.sql, this.o.replicaId, batch);
        this.pending.splice(0, batch.length);
        this.poke();
      } catch (err) {
        this.o.log.warn({ err, events: batch.length }, 'cannot store events; trying again');
        if (this.closed && ++failuresAtClose >= 3) {
          this.o.log.error({ events: this.pending.length }, 'events not stored before shutdown were dropped');
          this.pending = [];
          return;
        }
        await new Promise<void>((resolve) => setTimeout(resolve, 1000).unref());
      }
    }
  }


  /** Reads what is new now (or once more after the read in progress). */
  private poke(): void {
    if (this.closed) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = this.readNew()
      .catch((err: unknown) => this.o.log.warn({ err }, 'cannot read new events; reading again on the next notification'))
      .finally(() => {
        this.reading = undefined;
        if (this.readAgain) {
          this.readAgain = false;
          this.poke();
        }
      });
  }

  private async readNew(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const rows = await this.o.sql.all<EventRow>('SELECT id, type, at, origin, data FROM events WHERE id > ? ORDER BY id LIMIT ?', [this.lastEventId, PAGE]);
      for (const row of rows) {
        const id = Number(row.id);
        if (id !== this.lastEventId + 1 && !this.gapExpired()) return;
        this.gapSince = undefined;
        this.lastEventId = id;
        this.dispatch(toEvent(row), row.origin === this.o.replicaId);
      }
      if (rows.length < PAGE) return;
    }
  }

  /** True once the hole before the next row has stayed open for the gap window; until then, reads again later. */
  private gapExpired(): boolean {
    const windowMs = this.o.gapWindowMs ?? 2000;
    const now = Date.now();
    this.gapSince ??= now;
    if (now - this.gapSince >= windowMs) {
      this.o.log.warn({ after: this.lastEventId }, 'an event id stayed missing; going on without it');
      return true;
    }
    if (!this.gapTimer) {
      this.gapTimer = setTimeout(() => {
        this.gapTimer = undefined;
        this.poke();
      }, windowMs - (now - this.gapSince) + 10);
      this.gapTimer.unref();
    }
    return false;
  }

  private dispatch(event: FusionEvent, own: boolean): void {
    for (const listener of own ? [...this.listeners, ...this.own] : [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.o.log.error({ err, event: event.type }, 'event listener failed');
      }
    }
  }

  /** Cuts the table back to the newest `keepEvents`, no older than `keepMs`, holding at most `keepBytes`. */
  async prune(): Promise<void> {
    await pruneEvents(this.o.sql, { keepEvents: this.o.keepEvents ?? 10_000, keepMs: this.o.keepMs ?? 3_600_000, keepBytes: this.o.keepBytes ?? 64 * 1024 * 1024 });
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.o.url, application_name: 'fusion-events', keepAlive: true });
    client.on('notification', () => this.poke());
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    await client.connect();
    await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    if (this.closed) {
      await client.end();
      return;
    }
    this.client = client;
  }

  /** The listening connection broke: listen again, then read what was published meanwhile. */
  private lost(client: pg.Client, err?: unknown): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    this.o.log.warn({ err }, 'the event stream lost its listening connection; listening again');
    const again = (): void => {
      this.retry = undefined;
      this.listen().then(
        () => this.poke(),
        (error: unknown) => {
          this.o.log.warn({ err: error }, 'the event stream could not listen again yet');
          if (!this.closed) this.retry = setTimeout(again, this.o.reconnectMs ?? 1000);
        },
      );
    };
    this.retry = setTimeout(again, this.o.reconnectMs ?? 1000);
  }
}

function toEvent(row: EventRow): FusionEvent {
  return { id: Number(row.id), type: row.type, at: Number(row.at), data: JSON.parse(row.data) as unknown } as FusionEvent;
}
