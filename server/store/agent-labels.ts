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

/**
 * Admin-set labels of agents. Kept in the agents table beside (never mixed
 * with) what agents report about themselves.
 */
export class AgentLabelStore {
  constructor(private readonly sql: Sql) {}

  /** The agent's labels, or undefined when Fusion does not know the agent. */
  async get(agentId: string): Promise<Record<string, string> | undefined> {
    const row = await this.sql.get<{ labels: string | null }>('SELECT labels FROM agents WHERE agent_id = ?', [agentId]);
    return row ? stringMap(row.labels) : undefined;
  }

  /** Replaces the labels of one agent; false when the agent is unknown. */
  async replace(agentId: string, labels: Labels): Promise<boolean> {
    return (await this.sql.run(SET_LABELS, [JSON.stringify(sorted(labels)), agentId])).changes === 1;
  }

  /** Applies one change to many agents in one transaction; returns how many agents' labels changed. */
  async changeMany(agents: Array<{ agent_id: string; labels: Readonly<Record<string, string>> }>, change: LabelChange): Promise<number> {
    let changed = 0;
    await this.sql.transaction(async () => {
      for (const agent of agents) {
        const before = JSON.stringify(sorted(agent.labels));
        const after = JSON.stringify(sorted(applyLabelChange(agent.labels, change)));
        if (before === after) continue;
        await this.sql.run(SET_LABELS, [after, agent.agent_id]);
        changed++;
      }
    });
    return changed;
  }
}

const SET_LABELS = 'UPDATE agents SET labels = ? WHERE agent_id = ?';

function sorted(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(labels).sort()) out[key] = labels[key]!;
  return out;
}
