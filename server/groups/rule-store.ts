import { stringMap } from '../store/agent-store.js';
import type { Db } from '../store/database.js';
import type { AssignedBy } from './group-store.js';

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
      labels: db.prepare('SELECT agent_id, labels FROM agents ORDER BY agent_id'),
      memberships: db.prepare('SELECT agent_id, group_name, assigned_by FROM group_members'),
    };
  }

  /** Sets (or, with null, removes) a group's rule; false when there is no such group. */
  set(group: string, selector: string | null): boolean {
    return this.stmts.set.run(selector, Date.now(), group).changes === 1;
  }

  /** Every known agent's admin labels (and nothing it reports), in one query: what rules are tested against. */
  labelled(): Array<{ agent_id: string; labels: Record<string, string> }> {
    return (this.stmts.labels.all() as Array<{ agent_id: string; labels: string | null }>).map((row) => ({ agent_id: row.agent_id, labels: stringMap(row.labels) }));
  }

  /** Every agent's membership, in one query (a rule looks at the whole fleet). */
  memberships(): Map<string, { group_name: string; assigned_by: AssignedBy }> {
    const rows = this.stmts.memberships.all() as Array<{ agent_id: string; group_name: string; assigned_by: AssignedBy }>;
    return new Map(rows.map((row) => [row.agent_id, { group_name: row.group_name, assigned_by: row.assigned_by }]));
  }

  /** Every group that has a rule, by name. */
  all(): StoredRule[] {
    return this.stmts.all.all() as StoredRule[];
  }
}
