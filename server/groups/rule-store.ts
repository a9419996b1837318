import type { Db } from '../store/database.js';

/** A group's rule as stored: the selector text as the admin wrote it (trimmed). */
export interface StoredRule {
  group_name: string;
  selector: string;
}

/**
 * Group rules (the `selector` column of config_groups), kept apart from
 * GroupStore so that the rule's reads and writes stay in one small place.
 */
export class RuleStore {
  private readonly stmts;

  constructor(db: Db) {
    this.stmts = {
      set: db.prepare('UPDATE config_groups SET selector = ?, updated_at = ? WHERE name = ?'),
      all: db.prepare('SELECT name AS group_name, selector FROM config_groups WHERE selector IS NOT NULL ORDER BY name'),
    };
  }

  /** Sets (or, with null, removes) a group's rule; false when there is no such group. */
  set(group: string, selector: string | null): boolean {
    return this.stmts.set.run(selector, Date.now(), group).changes === 1;
  }

  /** Every group that has a rule, by name. */
  all(): StoredRule[] {
    return this.stmts.all.all() as StoredRule[];
  }
}
