import type { ConfigReportFrame } from '../../shared/protocol/index.js';
import type { Sql } from '../store/sql.js';

/** The latest effective config an agent reported (answer to report_config). */
export interface ConfigReport {
  agent_id: string;
  signature: string | null;
  revision: number | null;
  source: string;
  document: Record<string, unknown> | null;
  command_id: string | null;
  reported_at: number;
}

/** One report per agent, replaced by the next; survives restarts. */
export class ReportStore {
  constructor(private readonly sql: Sql) {}

  async save(agentId: string, frame: ConfigReportFrame): Promise<void> {
    await this.sql.run(`INSERT INTO config_reports (agent_id, signature, revision, source, document, command_id, reported_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(agent_id) DO UPDATE SET signature = excluded.signature, revision = excluded.revision, source = excluded.source,
           document = excluded.document, command_id = excluded.command_id, reported_at = excluded.reported_at`, [agentId, frame.signature, frame.revision, frame.source, frame.document ? JSON.stringify(frame.document) : null, frame.command_id ?? null, Date.now()]);
  }

  /** Signature and time of the agent's latest report, without its document (listings). */
  async head(agentId: string): Promise<Pick<ConfigReport, 'signature' | 'reported_at'> | undefined> {
    return await this.sql.get<Pick<ConfigReport, 'signature' | 'reported_at'>>('SELECT signature, reported_at FROM config_reports WHERE agent_id = ?', [agentId]);
  }

  async get(agentId: string): Promise<ConfigReport | undefined> {
    const row = await this.sql.get<Omit<ConfigReport, 'document'> & { document: string | null }>('SELECT * FROM config_reports WHERE agent_id = ?', [agentId]);
    return row ? { ...row, document: row.document ? (JSON.parse(row.document) as Record<string, unknown>) : null } : undefined;
  }
}
