import type { Db } from './database.js';

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

/**
 * Versioned agent configs. Documents are stored once per signature
 * (content-addressed), so any document an agent reports running can be used
 * as the base of a patch, whichever agent or revision it came from.
 */
export class ConfigStore {
  private readonly insertDocument;
  private readonly insertRevision;
  private readonly selectHead;
  private readonly selectLatest;
  private readonly selectRevision;
  private readonly selectHistory;
  private readonly selectDocument;
  private readonly insertNextRevision;

  constructor(private readonly db: Db) {
    this.insertDocument = db.prepare('INSERT OR IGNORE INTO config_documents (signature, document) VALUES (?, ?)');
    this.insertRevision = db.prepare(
      `INSERT INTO agent_config_revisions (agent_id, revision, signature, format, source_text, author, created_at)
       VALUES (@agent_id, @revision, @signature, @format, @source_text, @author, @created_at)`,
    );
    this.selectHead = db.prepare('SELECT revision, signature, created_at FROM agent_config_revisions WHERE agent_id = ? ORDER BY revision DESC LIMIT 1');
    this.selectLatest = db.prepare(
      `SELECT r.*, d.document FROM agent_config_revisions r JOIN config_documents d USING (signature)
       WHERE r.agent_id = ? ORDER BY r.revision DESC LIMIT 1`,
    );
    this.selectRevision = db.prepare(
      `SELECT r.*, d.document FROM agent_config_revisions r JOIN config_documents d USING (signature)
       WHERE r.agent_id = ? AND r.revision = ?`,
    );
    this.selectHistory = db.prepare(
      `SELECT r.agent_id, r.revision, r.signature, r.format, CASE r.source_text WHEN '' THEN d.document ELSE r.source_text END AS source_text,
         r.author, r.created_at
       FROM agent_config_revisions r JOIN config_documents d USING (signature)
       WHERE r.agent_id = ? ORDER BY r.revision DESC LIMIT ?`,
    );
    this.selectDocument = db.prepare('SELECT document FROM config_documents WHERE signature = ?');
    // Positional parameters (the agent id twice): binding by name costs more per row of a bulk save.
    this.insertNextRevision = db.prepare(
      `INSERT INTO agent_config_revisions (agent_id, revision, signature, format, source_text, author, created_at)
       VALUES (?, (SELECT COALESCE(MAX(revision), 0) + 1 FROM agent_config_revisions WHERE agent_id = ?), ?, ?, ?, ?, ?)
       RETURNING revision`,
    );
  }

  /** Revision, signature and time of an agent's newest config, without reading the document or text. */
  head(agentId: string): { revision: number; signature: string; created_at: number } | undefined {
    return this.selectHead.get(agentId) as { revision: number; signature: string; created_at: number } | undefined;
  }

  /** The newest revision of an agent's config, or undefined when none was stored. */
  latest(agentId: string): ConfigRevisionWithDocument | undefined {
    return toRevision(this.selectLatest.get(agentId));
  }

  revision(agentId: string, revision: number): ConfigRevisionWithDocument | undefined {
    return toRevision(this.selectRevision.get(agentId, revision));
  }

  history(agentId: string, limit = 100): ConfigRevision[] {
    return this.selectHistory.all(agentId, limit) as ConfigRevision[];
  }

  /** A document by its signature, from any agent's history. */
  document(signature: string): Record<string, unknown> | undefined {
    const row = this.selectDocument.get(signature) as { document: string } | undefined;
    return row ? (JSON.parse(row.document) as Record<string, unknown>) : undefined;
  }

  /**
   * Stores a new revision unless `precondition` is given and refuses what is
   * stored now (then returns `{ conflict }` with the current revision, if
   * any); the check and the insert are one transaction.
   */
  save(
    input: Omit<NewRevision, 'documentText'> & { precondition?: ((current: ConfigRevisionWithDocument | undefined) => boolean) | undefined },
  ): { revision: ConfigRevisionWithDocument } | { conflict: ConfigRevisionWithDocument | undefined } {
    return this.db.transaction(() => {
      const current = this.latest(input.agentId);
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
      this.insertDocument.run(input.signature, JSON.stringify(input.document));
      this.insertRevision.run(row);
      return { revision: { ...row, document: input.document } };
    })();
  }

  /**
   * Stores the next revision of many agents' configs in one transaction, with
   * `alongside` (the caller's own writes) in the same transaction: all or none.
   * Each agent's revision number is computed in its insert, not read first.
   */
  saveMany(entries: readonly NewRevision[], alongside?: () => void): ConfigRevisionWithDocument[] {
    return this.db.transaction(() => {
      alongside?.();
      const now = Date.now();
      // Each distinct document is written once; its text is what a rendered revision reads back as its source.
      const stored = new Map<string, string>();
      return entries.map((entry): ConfigRevisionWithDocument => {
        let documentText = stored.get(entry.signature);
        if (documentText === undefined) {
          documentText = entry.documentText ?? JSON.stringify(entry.document);
          this.insertDocument.run(entry.signature, documentText);
          stored.set(entry.signature, documentText);
        }
        const { agentId, signature, format, sourceText, author } = entry;
        const { revision } = this.insertNextRevision.get(agentId, agentId, signature, format, sourceText, author, now) as { revision: number };
        return {
          agent_id: agentId,
          revision,
          signature,
          format,
          source_text: sourceText === '' ? documentText : sourceText,
          author,
          created_at: now,
          document: entry.document,
        };
      });
    })();
  }
}

function toRevision(row: unknown): ConfigRevisionWithDocument | undefined {
  if (!row) return undefined;
  const r = row as ConfigRevision & { document: string };
  return { ...r, source_text: r.source_text === '' ? r.document : r.source_text, document: JSON.parse(r.document) as Record<string, unknown> };
}
