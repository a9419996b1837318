import type { Labels } from '../../shared/selector/index.js';
import type { Db } from './database.js';
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

/**
 * Admin-set labels of agents. Kept in the agents table beside (never mixed
 * with) what agents report about themselves.
 */
export class AgentLabelStore {
  private readonly getStmt;
  private readonly setStmt;

  constructor(private readonly db: Db) {
    this.getStmt = db.prepare('SELECT labels FROM agents WHERE agent_id = ?');
    this.setStmt = db.prepare('UPDATE agents SET labels = ? WHERE agent_id = ?');
  }

  /** The agent's labels, or undefined when Fusion does not know the agent. */
  get(agentId: string): Record<string, string> | undefined {
    const row = this.getStmt.get(agentId) as { labels: string | null } | undefined;
    return row ? stringMap(row.labels) : undefined;
  }

  /** Replaces the labels of one agent; false when the agent is unknown. */
  replace(agentId: string, labels: Labels): boolean {
    return this.setStmt.run(JSON.stringify(sorted(labels)), agentId).changes === 1;
  }

  /** Applies one change to many agents in one transaction; returns how many agents' labels changed. */
  changeMany(agents: Array<{ agent_id: string; labels: Readonly<Record<string, string>> }>, change: LabelChange): number {
    let changed = 0;
    this.db.transaction(() => {
      for (const agent of agents) {
        const before = JSON.stringify(sorted(agent.labels));
        const after = JSON.stringify(sorted(applyLabelChange(agent.labels, change)));
        if (before === after) continue;
        this.setStmt.run(after, agent.agent_id);
        changed++;
      }
    })();
    return changed;
  }
}

function sorted(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(labels).sort()) out[key] = labels[key]!;
  return out;
}
