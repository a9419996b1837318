import type { Request, RequestHandler } from 'express';
import { bearerToken } from '../auth/secrets.js';
import type { TokenStore } from '../auth/token-store.js';
import type { FusionEvents } from '../events/event-bus.js';
import type { FusionEvent } from '../events/event-types.js';
import { HttpError } from '../http/errors.js';

export interface EventStreamOptions {
  tokens: TokenStore;
  bus: FusionEvents;
  /** Interval of keep-alive comments, which also re-check the token. */
  heartbeatMs: number;
  /** A client this far behind (bytes queued) is dropped; it reconnects with Last-Event-ID. */
  maxBufferedBytes?: number;
}

/** How long EventSource waits before reconnecting, told to every client. */
export const SSE_RETRY_MS = 2000;
const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;
/** Live events held back while a replay is read, past which the stream ends. */
const MAX_HELD_EVENTS = 10_000;

/**
 * EventSource cannot send headers, so the events route also takes the admin
 * token as `?access_token=`. It is moved into the Authorization header before
 * `requireAdmin` runs; it is never logged or echoed.
 */
export const tokenFromQuery: RequestHandler = (req, _res, next) => {
  const token = req.query.access_token;
  if (!req.headers.authorization && typeof token === 'string' && token) req.headers.authorization = `Bearer ${token}`;
  next();
};

/**
 * `GET /api/v1/management/events`: Server-Sent Events, one per state change
 * (`id` = `<instance>-<event id>`, `event` = type, `data` = the event as JSON). A client
 * that reconnects with `Last-Event-ID` (or `?last_event_id=`) gets what it
 * missed, or a `resync` event when that is no longer kept. `?types=` filters
 * by type (`agent.online`) or prefix (`agent.*`). A `ready` event follows the
 * replay. The token is re-checked on every keep-alive: a revoked token ends
 * the stream.
 */
export function eventStream(options: EventStreamOptions): RequestHandler {
  const maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  return (req, res) => {
    const secret = bearerToken(req.headers.authorization) ?? '';
    const accepts = typeFilter(req.query.types);
    const { bus } = options;
    const lastId = lastEventId(req, bus.instance);

    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'referrer-policy': 'no-referrer',
    });
    res.flushHeaders();
    const write = (chunk: string): void => {
      if (res.writableEnded || res.destroyed) return;
      res.write(chunk);
      if (res.writableLength > maxBuffered) end();
    };
    let sentId = 0;
    const send = (event: FusionEvent): void => {
      if (event.id <= sentId) return;
      sentId = event.id;
      if (accepts(event.type)) write(`id: ${bus.instance}-${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    };

    write(`retry: ${SSE_RETRY_MS}\n\n`);
    // Live events are held back while the replay is read (on PostgreSQL it is a query), then follow it.
    const horizon = bus.lastEventId;
    let held: FusionEvent[] | undefined = [];
    const unsubscribe = bus.subscribe((event) => {
      if (!held) return send(event);
      // A replay that takes this long is a client too far behind: it reconnects and tries again.
      if (held.push(event) > MAX_HELD_EVENTS) end();
    });
    const removeCloseHook = bus.onClose(() => end());
    const replayed = lastId === undefined || lastId === 'other-instance' ? Promise.resolve(lastId === undefined ? [] : undefined) : bus.replay(lastId, horizon);
    replayed.then(
      (missed) => {
        if (ended) return;
        if (missed) missed.forEach(send);
        else write(`event: resync\ndata: ${JSON.stringify({ last_event_id: `${bus.instance}-${horizon}` })}\n\n`);
        // A client that saw more than this replica has dispatched yet (it came from a replica ahead) gets nothing twice.
        sentId = Math.max(sentId, horizon, missed && typeof lastId === 'number' ? lastId : 0);
        write(`event: ready\ndata: ${JSON.stringify({ last_event_id: `${bus.instance}-${sentId}` })}\n\n`);
        const pending = held ?? [];
        held = undefined;
        pending.forEach(send);
      },
      // The replay cannot be read (storage error): the stream ends, the client reconnects and tries again.
      () => end(),
    );
    const heartbeat = setInterval(() => {
      options.tokens.verify('admin', secret).then(
        (valid) => {
          if (ended) return;
          if (!valid) {
            write(`event: error\ndata: ${JSON.stringify({ code: 'unauthorized', message: 'the admin token is no longer valid' })}\n\n`);
            end();
            return;
          }
          write(': keep-alive\n\n');
        },
        // The token cannot be checked (storage error): the stream ends, the client reconnects and is checked again.
        () => end(),
      );
    }, options.heartbeatMs);
    heartbeat.unref();

    let ended = false;
    function cleanup(): void {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      unsubscribe();
      removeCloseHook();
    }
    function end(): void {
      cleanup();
      if (!res.writableEnded) res.end();
    }
    res.on('close', cleanup);
  };
}

/**
 * The client's Last-Event-ID (header, or `?last_event_id=`): `<instance>-<id>`
 * as the stream sends them, or a bare id. An id from another Fusion process
 * (restarted since) is `other-instance`: nothing it missed can be replayed.
 */
function lastEventId(req: Request, instance: string): number | 'other-instance' | undefined {
  const raw = req.headers['last-event-id'] ?? req.query.last_event_id;
  if (raw === undefined) return undefined;
  const match = /^(?:([0-9a-f]+)-)?(\d+)$/.exec(String(Array.isArray(raw) ? raw[0] : raw).trim());
  if (!match) throw new HttpError(400, 'bad_request', 'Last-Event-ID must be an event id from this stream');
  if (match[1] !== undefined && match[1] !== instance) return 'other-instance';
  return Number(match[2]);
}

/** `?types=agent.online,command.*` → a predicate on event types; everything when absent. */
function typeFilter(raw: unknown): (type: string) => boolean {
  if (typeof raw !== 'string' || !raw.trim()) return () => true;
  const patterns = raw.split(',').map((p) => p.trim()).filter(Boolean);
  return (type) => patterns.some((p) => (p.endsWith('*') ? type.startsWith(p.slice(0, -1)) : type === p));
}
