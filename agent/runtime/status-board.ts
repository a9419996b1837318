import type { PipeStatus } from '../../shared/protocol/index.js';

type StatusUpdate = Partial<Omit<PipeStatus, 'id'>>;
export type StatusListener = (pipes: PipeStatus[]) => void;

/**
 * The status of every pipe the runtime tracks. Each entry belongs to one pipe
 * instance (its token): updates from an instance that was replaced or removed
 * are dropped, so a stopping pipe cannot overwrite its successor. Listeners
 * hear about changes once per turn of the event loop, with the whole list.
 */
export class StatusBoard {
  private readonly entries = new Map<string, { token: object; status: PipeStatus }>();
  private readonly listeners = new Set<StatusListener>();
  private scheduled: NodeJS.Immediate | null = null;

  constructor(private readonly onListenerError: (err: unknown) => void) {}

  /** Makes `token` the owner of pipe `id`, with a fresh status. */
  claim(id: string, token: object): void {
    this.entries.set(id, { token, status: { id, state: 'starting', records_sent: 0, last_error: null } });
    this.changed();
  }

  /** Applies an update from the instance holding `token`; ignored if it no longer owns the entry. */
  update(id: string, token: object, update: StatusUpdate): void {
    const entry = this.entries.get(id);
    if (!entry || entry.token !== token) return;
    const next: PipeStatus = {
      id,
      state: update.state ?? entry.status.state,
      records_sent: update.records_sent ?? entry.status.records_sent,
      last_error: update.last_error !== undefined ? update.last_error : entry.status.last_error,
    };
    const realtime = update.realtime ?? entry.status.realtime;
    if (realtime) next.realtime = realtime;
    const before = entry.status;
    if (
      next.state === before.state &&
      next.records_sent === before.records_sent &&
      next.last_error === before.last_error &&
      JSON.stringify(next.realtime) === JSON.stringify(before.realtime)
    ) {
      return;
    }
    entry.status = next;
    this.changed();
  }

  /** Drops the entry of `id` if `token` owns it (or always, without a token). */
  remove(id: string, token?: object): void {
    const entry = this.entries.get(id);
    if (!entry || (token && entry.token !== token)) return;
    this.entries.delete(id);
    this.changed();
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  list(): PipeStatus[] {
    return [...this.entries.values()].map((e) => ({ ...e.status })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  subscribe(listener: StatusListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Cancels a pending notification; later changes are still tracked but no longer announced. */
  close(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    this.listeners.clear();
  }

  private changed(): void {
    if (this.scheduled || this.listeners.size === 0) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = null;
      const pipes = this.list();
      for (const listener of this.listeners) {
        try {
          listener(pipes);
        } catch (err) {
          this.onListenerError(err);
        }
      }
    });
  }
}
