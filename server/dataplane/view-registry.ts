import { FsView, type ViewStats } from './fs-view.js';
import type { ViewConfig } from './fusion-config.js';

/** A view as the listing shows it. */
export interface ViewSummary {
  view_id: string;
  driver: string;
  stats: ViewStats;
}

/**
 * The live views, one per entry of fusion.yaml's `views`. A reload keeps the
 * data of every view that stays, starts new views empty and drops removed ones.
 */
export class ViewRegistry {
  private readonly views = new Map<string, { driver: string; view: FsView }>();

  get(id: string): FsView | undefined {
    return this.views.get(id)?.view;
  }

  has(id: string): boolean {
    return this.views.has(id);
  }

  ids(): string[] {
    return [...this.views.keys()];
  }

  list(): ViewSummary[] {
    return [...this.views].map(([id, { driver, view }]) => ({ view_id: id, driver, stats: view.stats() }));
  }

  /** Makes the set of views match `configs`; returns the ids added and removed. */
  sync(configs: Record<string, ViewConfig>): { added: string[]; removed: string[] } {
    const added: string[] = [];
    const removed: string[] = [];
    for (const id of [...this.views.keys()]) {
      if (!Object.hasOwn(configs, id)) {
        this.views.delete(id);
        removed.push(id);
      }
    }
    for (const [id, config] of Object.entries(configs)) {
      const current = this.views.get(id);
      // `fs` is the only view driver; a driver change would start the view afresh.
      if (current && current.driver === config.driver) continue;
      this.views.set(id, { driver: config.driver, view: new FsView(id) });
      if (!current) added.push(id);
    }
    return { added, removed };
  }
}
