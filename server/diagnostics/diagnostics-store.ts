import type { Sql } from '../store/sql.js';

export interface BundleSummary {
  command_id: string;
  agent_id: string;
  created_at: number;
  bytes: number;
}

/** Diagnostics bundles, one per `diagnostics` command that succeeded, kept apart from the command log. */
export class DiagnosticsStore {
  constructor(private readonly sql: Sql) {}

  async save(commandId: string, agentId: string, bundle: unknown): Promise<BundleSummary> {
    const text = JSON.stringify(bundle);
    const summary = { command_id: commandId, agent_id: agentId, created_at: Date.now(), bytes: Buffer.byteLength(text) };
    await this.sql.run(`INSERT INTO diagnostics_bundles (command_id, agent_id, created_at, bytes, bundle) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (command_id) DO UPDATE SET agent_id = excluded.agent_id, created_at = excluded.created_at, bytes = excluded.bytes, bundle = excluded.bundle`, [summary.command_id, summary.agent_id, summary.created_at, summary.bytes, text]);
    return summary;
  }

  /** An agent's bundles, newest first (at most 100). */
  async list(agentId: string): Promise<BundleSummary[]> {
    return await this.sql.all<BundleSummary>('SELECT command_id, agent_id, created_at, bytes FROM diagnostics_bundles WHERE agent_id = ? ORDER BY created_at DESC LIMIT 100', [agentId]);
  }

  /** The bundle's JSON text as the agent sent it. */
  async text(commandId: string): Promise<{ agent_id: string; created_at: number; bundle: string } | undefined> {
    return await this.sql.get<{ agent_id: string; created_at: number; bundle: string }>('SELECT agent_id, created_at, bundle FROM diagnostics_bundles WHERE command_id = ?', [commandId]);
  }
}
