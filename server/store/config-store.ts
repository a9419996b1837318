import type { Sql } from './sql.js';

/** One stored revision of an agent's config. */
export interface ConfigRevision {
  agent_id: string;
  revision: number;
  signature: string;
  format: 'yaml' | 'json';
  /** The text as the admin wrote it; for a rendered revision (a group member's), its document's JSON. */
  source_text: string;
  author: string;
  created_at: number;
}

export interface ConfigRevisionWithDocument extends ConfigRevision {
  document: Record<string, unknown>;
}

/** One agent's next revision in a bulk save. */
export interface NewRevision {
  agentId: string;
  signature: string;
  document: Record<string, unknown>;
  format: 'yaml' | 'json';
  /**
   * The text as written, or '' when the document is its own source (a
   * rendered revision): then nothing is stored twice, and the revision reads
   * back with its document's JSON as its source text.
   */
  sourceText: string;
  author: string;
  /** JSON.stringify(document), when the caller has it already. */
  documentText?: string;
}

/** Rows per multi-row statement of a bulk save (7 parameters each: well under both databases' limits). */
const CHUNK = 500;

/**
 * Versioned agent configs. Documents are stored once per signature
 * (content-addressed), so any document an agent reports running can be used
 * as the base of a patch, whichever agent or revision it came from.
 *
 * Revision numbers are handed out race-free across processes sharing one
 * database: a save locks the agents' rows (`SELECT … FOR UPDATE` on
 * PostgreSQL; SQLite has one writer) before it reads their newest revision,
 * so two saves of one agent take turns and never number alike. Row locks,
 * unlike advisory locks, do not fill PostgreSQL's shared lock table when a
 * group save covers ten thousand agents.
 */
export class ConfigStore {
  constructor(private readonly sql: Sql) {}

  /** Revision, signature and time of an agent's newest config, without reading the document or text. */
  head(agentId: string): Promise<{ revision: number; signature: string; created_at: number } | undefined> {
    return this.sql.get('SELECT revision, signature, created_at FROM agent_config_revisions WHERE agent_id = ? ORDER BY revision DESC LIMIT 1', [agentId]);
  }

  /** The newest revision of an agent's config, or undefined when none was stored. */
  async latest(agentId: string): Promise<ConfigRevisionWithDocument | undefined> {
    return toRevision(
      await this.sql.get(
        `SELECT r.*, d.document FROM agent_config_revisions r JOIN config_documents d ON d.signature = r.signature
         WHERE r.agent_id = ? ORDER BY r.revision DESC LIMIT 1`,
        [agentId],
      ),
    );
  }

  async revision(agentId: string, revision: number): Promise<ConfigRevisionWithDocument | undefined> {
    return toRevision(
      await this.sql.get(
        `SELECT r.*, d.document FROM agent_config_revisions r JOIN config_documents d ON d.signature = r.signature
         WHERE r.agent_id = ? AND r.revision = ?`,
        [agentId, revision],
      ),
    );
  }

  history(agentId: string, limit = 100): Promise<ConfigRevision[]> {
    return this.sql.all(
      `SELECT r.agent_id, r.revision, r.signature, r.format, CASE r.source_text WHEN '' THEN d.document ELSE r.source_text END AS source_text,
         r.author, r.created_at
       FROM agent_config_revisions r JOIN config_documents d ON d.signature = r.signature
       WHERE r.agent_id = ? ORDER BY r.revision DESC LIMIT ?`,
      [agentId, limit],
    );
  }

  /** A document by its signature, from any agent's history. */
  async document(signature: string): Promise<Record<string, unknown> | undefined> {
    const row = await this.sql.get<{ document: string }>('SELECT document FROM config_documents WHERE signature = ?', [signature]);
    return row ? (JSON.parse(row.document) as Record<string, unknown>) : undefined;
  }

  /**
   * Stores a new revision unless `precondition` is given and refuses what is
   * stored now (then returns `{ conflict }` with the current revision, if
   * any); the check and the insert are one transaction, and the agent's row
   * is locked first, so a concurrent save (this process or another) waits.
   * `guard` runs once the row is locked: what it throws stores nothing.
   */
  save(
    input: NewRevision & {
      precondition?: ((current: ConfigRevisionWithDocument | undefined) => boolean) | undefined;
      guard?: (() => Promise<void>) | undefined;
    },
  ): Promise<{ revision: ConfigRevisionWithDocument } | { conflict: ConfigRevisionWithDocument | undefined }> {
    return this.sql.transaction(async () => {
      await this.lockAgents([input.agentId]);
      await input.guard?.();
      const current = await this.latest(input.agentId);
      if (input.precondition && !input.precondition(current)) return { conflict: current };
      const row: ConfigRevision = {
        agent_id: input.agentId,
        revision: (current?.revision ?? 0) + 1,
        signature: input.signature,
        format: input.format,
        source_text: input.sourceText,
        author: input.author,
        created_at: Date.now(),
      };
      await this.sql.run('INSERT INTO config_documents (signature, document) VALUES (?, ?) ON CONFLICT (signature) DO NOTHING', [
        input.signature,
        input.documentText ?? JSON.stringify(input.document),
      ]);
      await this.sql.run(
        `INSERT INTO agent_config_revisions (agent_id, revision, signature, format, source_text, author, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [row.agent_id, row.revision, row.signature, row.format, row.source_text, row.author, row.created_at],
      );
      return { revision: { ...row, document: input.document } };
    });
  }

  /**
   * Stores the next revision of many agents' configs in one transaction, with
   * `alongside` (the caller's own writes) in the same transaction: all or none.
   * Statements carry up to 500 rows each, so a 10,000-member save is a few
   * dozen round trips, not tens of thousands.
   */
  saveMany(entries: readonly NewRevision[], alongside?: () => Promise<void>): Promise<ConfigRevisionWithDocument[]> {
    return this.sql.transaction(async () => {
      await alongside?.();
      const now = Date.now();
      const ids = [...new Set(entries.map((e) => e.agentId))];
      await this.lockAgents(ids);
      const heads = await this.heads(ids);
      // Each distinct document is written once; its text is what a rendered revision reads back as its source.
      const stored = new Map<string, string>();
      const newDocuments: Array<[string, string]> = [];
      const saved = entries.map((entry): ConfigRevisionWithDocument => {
        let documentText = stored.get(entry.signature);
        if (documentText === undefined) {
          documentText = entry.documentText ?? JSON.stringify(entry.document);
          stored.set(entry.signature, documentText);
          newDocuments.push([entry.signature, documentText]);
        }
        const { agentId, signature, format, sourceText, author } = entry;
        const revision = (heads.get(agentId) ?? 0) + 1;
        heads.set(agentId, revision);
        return { agent_id: agentId, revision, signature, format, source_text: sourceText === '' ? documentText : sourceText, author, created_at: now, document: entry.document };
      });
      for (let i = 0; i < newDocuments.length; i += CHUNK) {
        const chunk = newDocuments.slice(i, i + CHUNK);
        await this.sql.run(
          `INSERT INTO config_documents (signature, document) VALUES ${chunk.map(() => '(?, ?)').join(', ')} ON CONFLICT (signature) DO NOTHING`,
          chunk.flat(),
        );
      }
      for (let i = 0; i < saved.length; i += CHUNK) {
        const chunk = saved.slice(i, i + CHUNK);
        const params: unknown[] = [];
        for (let j = 0; j < chunk.length; j++) {
          const rev = chunk[j]!;
          params.push(rev.agent_id, rev.revision, rev.signature, rev.format, entries[i + j]!.sourceText, rev.author, rev.created_at);
        }
        await this.sql.run(
          `INSERT INTO agent_config_revisions (agent_id, revision, signature, format, source_text, author, created_at) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
          params,
        );
      }
      return saved;
    });
  }

  /**
   * Makes sure each agent has a row and, on PostgreSQL, locks those rows
   * (in agent id order, so two bulk saves cannot deadlock) until the
   * transaction ends. Call inside a transaction.
   */
  private async lockAgents(ids: readonly string[]): Promise<void> {
    const sorted = [...ids].sort();
    for (let i = 0; i < sorted.length; i += CHUNK) {
      const chunk = sorted.slice(i, i + CHUNK);
      const marks = chunk.map(() => '?').join(', ');
      await this.sql.run(`INSERT INTO agents (agent_id) VALUES ${chunk.map(() => '(?)').join(', ')} ON CONFLICT (agent_id) DO NOTHING`, chunk);
      if (this.sql.dialect === 'postgres') await this.sql.all(`SELECT agent_id FROM agents WHERE agent_id IN (${marks}) ORDER BY agent_id FOR UPDATE`, chunk);
    }
  }

  /** The newest revision number of each of `ids` that has one. */
  private async heads(ids: readonly string[]): Promise<Map<string, number>> {
    const heads = new Map<string, number>();
    for (let i = 0; i < ids.length; i += CHUNK) {
      const chunk = ids.slice(i, i + CHUNK);
      const rows = await this.sql.all<{ agent_id: string; revision: number }>(
        `SELECT agent_id, MAX(revision) AS revision FROM agent_config_revisions WHERE agent_id IN (${chunk.map(() => '?').join(', ')}) GROUP BY agent_id`,
        chunk,
      );
      for (const row of rows) heads.set(row.agent_id, row.revision);
    }
    return heads;
  }
}

function toRevision(row: unknown): ConfigRevisionWithDocument | undefined {
  if (!row) return undefined;
  const r = row as ConfigRevision & { document: string };
  return { ...r, source_text: r.source_text === '' ? r.document : r.source_text, document: JSON.parse(r.document) as Record<string, unknown> };
}
