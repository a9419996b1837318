import { stringMap } from '../store/agent-store.js';
import type { Sql } from '../store/sql.js';
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
  constructor(private readonly sql: Sql) {}

  /** Sets (or, with null, removes) a group's rule; false when there is no such group. */
  async set(group: string, selector: string | null): Promise<boolean> {
    return (await this.sql.run('UPDATE config_groups SET selector = ?, updated_at = ? WHERE name = ?', [selector, Date.now(), group])).changes === 1;
  }

  /** Every known agent's admin labels (and nothing it reports), in one query: what rules are tested against. */
  async labelled(): Promise<Array<{ agent_id: string; labels: Record<string, string> }>> {
    const rows = await this.sql.all<{ agent_id: string; labels: string | null }>('SELECT agent_id, labels FROM agents ORDER BY agent_id');
    return rows.map((row) => ({ agent_id: row.agent_id, labels: stringMap(row.labels) }));
  }

  /** Every agent's membership, in one query (a rule looks at the whole fleet). */
  async memberships(): Promise<Map<string, { group_name: string; assigned_by: AssignedBy }>> {
    const rows = await this.sql.all<{ agent_id: string; group_name: string; assigned_by: AssignedBy }>('SELECT agent_id, group_name, assigned_by FROM group_members');
    return new Map(rows.map((row) => [row.agent_id, { group_name: row.group_name, assigned_by: row.assigned_by }]));
  }

  /** Every group that has a rule, by name. */
  async all(): Promise<StoredRule[]> {
    return this.sql.all<StoredRule>('SELECT name AS group_name, selector FROM config_groups WHERE selector IS NOT NULL ORDER BY name');
  }
}
