import type { Db } from '../store/database.js';

export interface BundleSummary {
  command_id: string;
  agent_id: string;
  created_at: number;
  bytes: number;
}

/** Diagnostics bundles, one per `diagnostics` command that succeeded, kept apart from the command log. */
export class DiagnosticsStore {
  constructor(private readonly db: Db) {}

  save(commandId: string, agentId: string, bundle: unknown): BundleSummary {
    const text = JSON.stringify(bundle);
    const summary = { command_id: commandId, agent_id: agentId, created_at: Date.now(), bytes: Buffer.byteLength(text) };
    this.db
      .prepare('INSERT OR REPLACE INTO diagnostics_bundles (command_id, agent_id, created_at, bytes, bundle) VALUES (?, ?, ?, ?, ?)')
      .run(summary.command_id, summary.agent_id, summary.created_at, summary.bytes, text);
    return summary;
  }

  /** An agent's bundles, newest first (at most 100). */
  list(agentId: string): BundleSummary[] {
    return this.db
      .prepare('SELECT command_id, agent_id, created_at, bytes FROM diagnostics_bundles WHERE agent_id = ? ORDER BY created_at DESC LIMIT 100')
      .all(agentId) as BundleSummary[];
  }

  /** The bundle's JSON text as the agent sent it. */
  text(commandId: string): { agent_id: string; created_at: number; bundle: string } | undefined {
    return this.db.prepare('SELECT agent_id, created_at, bundle FROM diagnostics_bundles WHERE command_id = ?').get(commandId) as
      | { agent_id: string; created_at: number; bundle: string }
      | undefined;
  }
}
