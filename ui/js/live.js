/**
 * The live event stream (`/api/v1/management/events`). Views subscribe to
 * event types (or '*'); the connection state shows in the top bar. The
 * browser's EventSource resumes with Last-Event-ID by itself; when it gives
 * up (e.g. Fusion restarted) a new one resumes from the last id seen. The
 * event types to listen for are the server's own list, fetched before each
 * new EventSource (a restarted, upgraded Fusion may publish new ones).
 */
const EVENT_TYPES_PATH = '/api/v1/management/event-types';

/** The event types this Fusion publishes (`GET /api/v1/management/event-types`); rejects with `status` on an HTTP error. */
async function fetchEventTypes(token) {
  const res = await fetch(EVENT_TYPES_PATH, { headers: { accept: 'application/json', authorization: `Bearer ${token}` } });
  if (!res.ok) throw Object.assign(new Error(`HTTP ${res.status}`), { status: res.status });
  const { types } = await res.json();
  if (!Array.isArray(types)) throw new Error('the event type list is malformed');
  return types;
}

export class LiveEvents {
  constructor({ onState, onUnauthorized }) {
    this.onState = onState;
    this.onUnauthorized = onUnauthorized;
    this.listeners = new Map();
    this.source = null;
    this.lastId = null;
    this.retryMs = 1000;
    this.timer = null;
    this.token = null;
    /** Bumped by every open() and close(), so an open() that awaited a superseded one gives up. */
    this.generation = 0;
  }

  /** Calls `listener(event)` for events of `type` ('*' for all, 'resync' when events were missed); returns the unsubscribe function. */
  on(type, listener) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(listener);
    return () => this.listeners.get(type)?.delete(listener);
  }

  connect(token) {
    this.token = token;
    void this.open();
  }

  close() {
    this.generation++;
    clearTimeout(this.timer);
    this.source?.close();
    this.source = null;
    this.token = null;
    this.onState('offline');
  }

  async open() {
    const token = this.token;
    if (!token) return;
    const generation = ++this.generation;
    this.onState('connecting');
    let types;
    try {
      types = await fetchEventTypes(token);
    } catch (err) {
      if (generation !== this.generation) return;
      if (err.status === 401) this.onUnauthorized();
      else this.retry();
      return;
    }
    if (generation !== this.generation) return;
    this.source?.close();
    const query = new URLSearchParams({ access_token: token });
    if (this.lastId !== null) query.set('last_event_id', this.lastId);
    const source = new EventSource(`/api/v1/management/events?${query}`);
    this.source = source;
    source.addEventListener('ready', () => {
      this.retryMs = 1000;
      this.onState('live');
    });
    source.addEventListener('resync', () => this.emit('resync', null));
    source.addEventListener('error', (e) => {
      if (e.data) {
        // The server ended the stream on purpose: the token is no longer valid.
        source.close();
        this.onUnauthorized();
        return;
      }
      if (source.readyState === EventSource.CLOSED) this.retry();
      else this.onState('connecting');
    });
    for (const type of types) {
      source.addEventListener(type, (message) => {
        let event;
        try {
          event = JSON.parse(message.data);
        } catch {
          return;
        }
        this.lastId = message.lastEventId || this.lastId;
        this.emit(type, event);
        this.emit('*', event);
      });
    }
  }

  retry() {
    this.onState('offline');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.open(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 15000);
  }

  emit(type, event) {
    for (const listener of this.listeners.get(type) ?? []) {
      try {
        listener(event);
      } catch (err) {
        console.error('live listener failed', err);
      }
    }
  }
}
