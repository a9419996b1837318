/**
 * Secrets in the database: one row per name with its current version and its
 * value encrypted (see SecretCipher). Nothing here ever holds a value in
 * clear but the arguments and results of {@link SecretStore.put} and
 * {@link SecretStore.values}.
 */
import { randomUUID } from 'node:crypto';
import { secretReference } from '../../shared/config/index.js';
import type { Db } from '../store/database.js';
import type { SecretCipher } from './secret-cipher.js';

/** What anyone may see of a secret: never its value. */
export interface SecretRecord {
  name: string;
  /** 1 at creation, +1 at each rotation. */
  version: number;
  created_at: number;
  updated_at: number;
  /** Name of the admin token that last wrote it. */
  updated_by: string;
}

/** Who references a secret in their current config. */
export interface SecretUsers {
  /** Agents whose desired config references it (group members included). */
  agents: string[];
  /** Groups whose current template references it. */
  groups: string[];
}

interface SecretRow extends SecretRecord {
  version_id: string;
  value: Buffer;
}

export class SecretStore {
  constructor(
    private readonly db: Db,
    private readonly cipher: SecretCipher,
  ) {}

  list(): SecretRecord[] {
    return this.db.prepare('SELECT name, version, created_at, updated_at, updated_by FROM secrets ORDER BY name').all() as SecretRecord[];
  }

  get(name: string): SecretRecord | undefined {
    return this.db.prepare('SELECT name, version, created_at, updated_at, updated_by FROM secrets WHERE name = ?').get(name) as SecretRecord | undefined;
  }

  /** Names among `names` that are not stored. */
  unknown(names: readonly string[]): string[] {
    const statement = this.db.prepare('SELECT 1 FROM secrets WHERE name = ?');
    return names.filter((name) => statement.get(name) === undefined);
  }

  /**
   * Creates (`expect: 'new'`) or rotates (`expect: 'existing'`) a secret.
   * Returns undefined when the expectation does not hold (it exists, or does
   * not); the check and the write are one statement each inside one transaction.
   */
  put(name: string, value: string, author: string, expect: 'new' | 'existing'): SecretRecord | undefined {
    return this.db.transaction(() => {
      const current = this.get(name);
      if ((expect === 'new') !== (current === undefined)) return undefined;
      const now = Date.now();
      const record: SecretRecord = { name, version: (current?.version ?? 0) + 1, created_at: current?.created_at ?? now, updated_at: now, updated_by: author };
      // The version id is new at every write, so a secret deleted and created
      // again never repeats a digest an agent may still replay.
      this.db
        .prepare(
          `INSERT INTO secrets (name, version, version_id, value, created_at, updated_at, updated_by) VALUES (@name, @version, @version_id, @value, @created_at, @updated_at, @updated_by)
           ON CONFLICT(name) DO UPDATE SET version = excluded.version, version_id = excluded.version_id, value = excluded.value,
             updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
        )
        .run({ ...record, version_id: randomUUID(), value: this.cipher.encrypt(name, value) });
      return record;
    })();
  }

  remove(name: string): boolean {
    return this.db.prepare('DELETE FROM secrets WHERE name = ?').run(name).changes > 0;
  }

  /** Values (decrypted) and version ids of the stored secrets among `names`. */
  values(names: readonly string[]): { values: Record<string, string>; versions: Record<string, string> } {
    const statement = this.db.prepare('SELECT name, version, version_id, value FROM secrets WHERE name = ?');
    const values: Record<string, string> = {};
    const versions: Record<string, string> = {};
    for (const name of names) {
      const row = statement.get(name) as SecretRow | undefined;
      if (!row) continue;
      values[name] = this.cipher.decrypt(name, row.value);
      versions[name] = row.version_id;
    }
    return { values, versions };
  }

  /** Every stored secret's value (decrypted), by name. */
  allValues(): Record<string, string> {
    const rows = this.db.prepare('SELECT name, value FROM secrets').all() as Pick<SecretRow, 'name' | 'value'>[];
    return Object.fromEntries(rows.map((row) => [row.name, this.cipher.decrypt(row.name, row.value)]));
  }

  /** Agents and groups whose current config or template references `name`. */
  users(name: string): SecretUsers {
    const pattern = `%${secretReference(name).replace(/[\\%_]/g, '\\$&')}%`;
    const agents = this.db
      .prepare(
        `SELECT r.agent_id FROM agent_config_revisions r JOIN config_documents d USING (signature)
         WHERE r.revision = (SELECT MAX(revision) FROM agent_config_revisions m WHERE m.agent_id = r.agent_id)
           AND d.document LIKE ? ESCAPE '\\' ORDER BY r.agent_id`,
      )
      .all(pattern) as { agent_id: string }[];
    const groups = this.db
      .prepare(
        `SELECT g.name FROM config_groups g JOIN group_template_revisions t ON t.group_name = g.name AND t.revision = g.revision
         WHERE t.template LIKE ? ESCAPE '\\' ORDER BY g.name`,
      )
      .all(pattern) as { name: string }[];
    return { agents: agents.map((a) => a.agent_id), groups: groups.map((g) => g.name) };
  }
}
