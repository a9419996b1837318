import type { Labels } from '../../shared/selector/index.js';
import type { Sql } from './sql.js';
import { stringMap } from './agent-store.js';

/** A change to an agent's labels: keys to set (or overwrite), keys to remove. */
export interface LabelChange {
  set?: Labels;
  remove?: string[];
}

/** The labels after a change; removals apply after sets. Null-prototype: keys are user-chosen. */
export function applyLabelChange(current: Readonly<Record<string, string>>, change: LabelChange): Record<string, string> {
  const next = Object.assign(Object.create(null) as Record<string, string>, current, change.set ?? {});
  for (const key of change.remove ?? []) delete next[key];
  return next;
}

/** Agents read per statement while a bulk change walks the agents table. */
const BULK_CHUNK = 1000;

/** Serialises label changes (every replica): a change reads the labels it rewrites under it. */
const LABELS_LOCK = 'agents:labels';

/**
 * Admin-set labels of agents. Kept in the agents table beside (never mixed
 * with) what agents report about themselves. Every change reads the labels it
 * rewrites in the same transaction, under one lock, so concurrent changes (to
 * one agent or by selector, on any replica) all land: none is written over a
 * stale read.
 */
export class AgentLabelStore {
  constructor(private readonly sql: Sql) {}

  /** The agent's labels, or undefined when Fusion does not know the agent. */
  async get(agentId: string): Promise<Record<string, string> | undefined> {
    const row = await this.sql.get<{ labels: string | null }>('SELECT labels FROM agents WHERE agent_id = ?', [agentId]);
    return row ? stringMap(row.labels) : undefined;
  }

  /** Replaces the labels of one agent; the labels written, or undefined when the agent is unknown. */
  async replace(agentId: string, labels: Labels): Promise<Record<string, string> | undefined> {
    return this.sql.transaction(async () => {
      await this.sql.lock(LABELS_LOCK);
      const next = sorted(labels);
      return (await this.sql.run(SET_LABELS, [JSON.stringify(next), agentId])).changes === 1 ? next : undefined;
    });
  }

  /** Applies a change to one agent's labels; the labels after it, or undefined when the agent is unknown. */
  async change(agentId: string, change: LabelChange): Promise<Record<string, string> | undefined> {
    return this.sql.transaction(async () => {
      await this.sql.lock(LABELS_LOCK);
      const current = await this.get(agentId);
      if (!current) return undefined;
      const next = sorted(applyLabelChange(current, change));
      await this.sql.run(SET_LABELS, [JSON.stringify(next), agentId]);
      return next;
    });
  }

  /**
   * Applies one change to every agent whose labels `matches` accepts, in one
   * transaction that reads the labels as it goes (a chunk at a time);
   * returns the agents matched and how many of them changed.
   */
  async changeMatching(matches: (labels: Readonly<Record<string, string>>) => boolean, change: LabelChange): Promise<{ matched: string[]; changed: number }> {
    return this.sql.transaction(async () => {
      await this.sql.lock(LABELS_LOCK);
      const matched: string[] = [];
      let changed = 0;
      let after = '';
      for (;;) {
        const rows = await this.sql.all<{ agent_id: string; labels: string | null }>(
          'SELECT agent_id, labels FROM agents WHERE agent_id > ? ORDER BY agent_id LIMIT ?',
          [after, BULK_CHUNK],
        );
        for (const row of rows) {
          const labels = stringMap(row.labels);
          if (!matches(labels)) continue;
          matched.push(row.agent_id);
          const before = JSON.stringify(sorted(labels));
          const next = JSON.stringify(sorted(applyLabelChange(labels, change)));
          if (before === next) continue;
          await this.sql.run(SET_LABELS, [next, row.agent_id]);
          changed++;
        }
        if (rows.length < BULK_CHUNK) return { matched, changed };
        after = rows[rows.length - 1]!.agent_id;
      }
    });
  }
}

const SET_LABELS = 'UPDATE agents SET labels = ? WHERE agent_id = ?';

function sorted(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(labels).sort()) out[key] = labels[key]!;
  return out;
}
