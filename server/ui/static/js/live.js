/**
 * The live event stream (`/api/v1/management/events`). Views subscribe to
 * event types (or '*'); the connection state shows in the top bar. The
 * browser's EventSource resumes with Last-Event-ID by itself; when it gives
 * up (e.g. Fusion restarted) a new one resumes from the last id seen.
 */
const EVENT_TYPES = [
  'agent.online',
  'agent.offline',
  'agent.config_saved',
  'agent.config_status',
  'agent.config_reported',
  'agent.pipes',
  'command.transition',
  'rollout.progress',
  'session.created',
  'session.closed',
  'session.leader_changed',
  'fusion.config_applied',
];

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
  }

  /** Calls `listener(event)` for events of `type` ('*' for all, 'resync' when events were missed); returns the unsubscribe function. */
  on(type, listener) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(listener);
    return () => this.listeners.get(type)?.delete(listener);
  }

  connect(token) {
    this.token = token;
    this.open();
  }

  close() {
    clearTimeout(this.timer);
    this.source?.close();
    this.source = null;
    this.token = null;
    this.onState('offline');
  }

  open() {
    if (!this.token) return;
    this.source?.close();
    this.onState('connecting');
    const query = new URLSearchParams({ access_token: this.token });
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
    for (const type of EVENT_TYPES) {
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
    this.timer = setTimeout(() => this.open(), this.retryMs);
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
