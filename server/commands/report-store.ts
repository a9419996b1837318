import type { ConfigReportFrame } from '../../shared/protocol/index.js';
import type { Db } from '../store/database.js';

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
  constructor(private readonly db: Db) {}

  save(agentId: string, frame: ConfigReportFrame): void {
    this.db
      .prepare(
        `INSERT INTO config_reports (agent_id, signature, revision, source, document, command_id, reported_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(agent_id) DO UPDATE SET signature = excluded.signature, revision = excluded.revision, source = excluded.source,
           document = excluded.document, command_id = excluded.command_id, reported_at = excluded.reported_at`,
      )
      .run(agentId, frame.signature, frame.revision, frame.source, frame.document ? JSON.stringify(frame.document) : null, frame.command_id ?? null, Date.now());
  }

  /** Signature and time of the agent's latest report, without its document (listings). */
  head(agentId: string): Pick<ConfigReport, 'signature' | 'reported_at'> | undefined {
    return this.db.prepare('SELECT signature, reported_at FROM config_reports WHERE agent_id = ?').get(agentId) as Pick<ConfigReport, 'signature' | 'reported_at'> | undefined;
  }

  get(agentId: string): ConfigReport | undefined {
    const row = this.db.prepare('SELECT * FROM config_reports WHERE agent_id = ?').get(agentId) as (Omit<ConfigReport, 'document'> & { document: string | null }) | undefined;
    return row ? { ...row, document: row.document ? (JSON.parse(row.document) as Record<string, unknown>) : null } : undefined;
  }
}
