import { randomBytes } from 'node:crypto';
import type { Logger } from '../../shared/logger.js';
import type { FusionEvent, FusionEventMap, FusionEventType } from './event-types.js';

export type EventListener = (event: FusionEvent) => void;

/** Events kept for replay to a client that reconnects with `Last-Event-ID`. */
export const DEFAULT_REPLAY_EVENTS = 1000;
/** Bytes (of JSON) the kept events may hold together; the oldest are dropped past it. */
export const DEFAULT_REPLAY_BYTES = 4 * 1024 * 1024;
/** An event whose data is larger is kept for replay as a summary (see {@link replayCopy}). */
export const MAX_REPLAY_EVENT_BYTES = 16 * 1024;

/**
 * What the replay buffer keeps of an event: the event itself, or for one
 * larger than `limit` (MAX_REPLAY_EVENT_BYTES), its id, type and time with
 * `data: { truncated: true, bytes, agent_id? }`, so a client that replays it
 * knows to refetch (e.g. GET /agents) instead of holding megabytes per event.
 */
export function replayCopy(event: FusionEvent, limit = MAX_REPLAY_EVENT_BYTES): { event: FusionEvent; bytes: number } {
  const bytes = JSON.stringify(event.data).length;
  if (bytes <= limit) return { event, bytes };
  const data = event.data as { agent_id?: unknown };
  const summary = { truncated: true, bytes, ...(typeof data.agent_id === 'string' ? { agent_id: data.agent_id } : {}) };
  return { event: { ...event, data: summary } as unknown as FusionEvent, bytes: JSON.stringify(summary).length };
}

/**
 * Where Fusion's state changes are published and the management event stream
 * (and webhooks) read them: {@link EventBus} in one process (SQLite), the
 * PostgreSQL-backed PgEventBus when replicas share a database (every replica
 * sees every replica's events, under ids that are the same on all of them).
 */
export interface FusionEvents {
  /**
   * Names the id space: the stream sends ids as `<instance>-<id>`, and a
   * client's Last-Event-ID from another id space (a restarted single process,
   * another cluster) cannot be replayed.
   */
  readonly instance: string;
  /** Id of the newest event handed to this process's listeners (0 before the first). */
  readonly lastEventId: number;
  /** Publishes an event; never throws (an event that cannot be stored is logged). */
  publish<K extends FusionEventType>(type: K, data: FusionEventMap[K]): void;
  /** Calls `listener` for every event from now on, in id order, whichever replica published it. */
  subscribe(listener: EventListener): () => void;
  /**
   * Calls `listener` for the events this process published (once it has its
   * id): what must happen once per event in the whole cluster (a webhook
   * delivery) subscribes here, so each replica acts for its own events only.
   */
  subscribeOwn(listener: EventListener): () => void;
  /**
   * The kept events with `after < id <= upTo`, oldest first; undefined when
   * some of them are no longer kept (the client should refetch state).
   */
  replay(after: number, upTo: number): Promise<FusionEvent[] | undefined>;
  /** Runs `hook` when the bus closes (streams end there); returns a function that removes it. */
  onClose(hook: () => void): () => void;
  close(): void | Promise<void>;
}

/**
 * Fusion's in-process event bus: modules publish state changes, the event
 * stream (and anything else) subscribes. Publishing never throws: a listener
 * that fails is logged and the others still run. The last events are kept so
 * a client that lost its connection can catch up instead of refetching.
 */
export class EventBus implements FusionEvents {
  /**
   * Names this bus (one per Fusion process). Event ids restart at 1 with
   * every process, so a client's Last-Event-ID from an earlier process must
   * be told apart: the stream sends ids as `<instance>-<id>`.
   */
  readonly instance = randomBytes(4).toString('hex');
  private readonly listeners = new Set<EventListener>();
  /** Kept events are `recent[head..]`, oldest first; dropped ones are cut off in bulk, so a publish costs O(1). */
  private recent: FusionEvent[] = [];
  /** JSON size of each kept event's data, parallel to `recent`. */
  private sizes: number[] = [];
  private keptBytes = 0;
  private head = 0;
  private lastId = 0;
  private closed = false;
  private readonly closeHooks = new Set<() => void>();

  constructor(
    private readonly log: Logger,
    private readonly replayEvents = DEFAULT_REPLAY_EVENTS,
    private readonly replayBytes = DEFAULT_REPLAY_BYTES,
  ) {}

  /** Id of the newest event (0 before the first). */
  get lastEventId(): number {
    return this.lastId;
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  publish<K extends FusionEventType>(type: K, data: FusionEventMap[K]): FusionEvent | undefined {
    if (this.closed) return undefined;
    const event = { id: ++this.lastId, type, at: Date.now(), data } as FusionEvent;
    this.keep(event);
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.log.error({ err, event: type }, 'event listener failed');
      }
    }
    return event;
  }

  /** Bytes the replay buffer holds (bounded by replayBytes). */
  get replayBufferBytes(): number {
    return this.keptBytes;
  }

  private keep(event: FusionEvent): void {
    const copy = replayCopy(event);
    this.recent.push(copy.event);
    this.sizes.push(copy.bytes);
    this.keptBytes += copy.bytes;
    while (this.recent.length - this.head > this.replayEvents || (this.keptBytes > this.replayBytes && this.head < this.recent.length - 1)) {
      this.keptBytes -= this.sizes[this.head]!;
      this.head++;
    }
    if (this.head >= this.replayEvents) {
      this.recent = this.recent.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
  }

  /** Calls `listener` for every event from now on; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** In one process every event is this process's own. */
  subscribeOwn(listener: EventListener): () => void {
    return this.subscribe(listener);
  }

  replay(after: number, upTo: number): Promise<FusionEvent[] | undefined> {
    return Promise.resolve(this.since(after)?.filter((e) => e.id <= upTo));
  }

  /**
   * The kept events newer than `id`, oldest first; undefined when events
   * after `id` were already dropped (the caller should refetch state instead).
   */
  since(id: number): FusionEvent[] | undefined {
    if (id >= this.lastId) return [];
    const oldest = this.recent[this.head];
    if (!oldest || oldest.id > id + 1) return undefined;
    return this.recent.slice(this.head).filter((e) => e.id > id);
  }

  /** Runs `hook` when the bus closes (streams end there); returns a function that removes it. */
  onClose(hook: () => void): () => void {
    this.closeHooks.add(hook);
    return () => {
      this.closeHooks.delete(hook);
    };
  }

  /** Drops every listener and runs the close hooks; later publishes are ignored. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    for (const hook of [...this.closeHooks]) {
      try {
        hook();
      } catch (err) {
        this.log.error({ err }, 'event bus close hook failed');
      }
    }
    this.closeHooks.clear();
  }
}
