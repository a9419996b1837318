/**
 * Secrets in the database: one row per name with its current version and its
 * value encrypted (see SecretCipher). Nothing here ever holds a value in
 * clear but the arguments and results of {@link SecretStore.create},
 * {@link SecretStore.rotate} and {@link SecretStore.values}.
 *
 * Creating and rotating are one conditional statement each (an insert that
 * does nothing when the name is taken; an update that increments the stored
 * version), so two Fusion processes on one database never both create a name
 * nor both write the same version.
 */
import { randomUUID } from 'node:crypto';
import { secretReference } from '../../shared/config/index.js';
import type { Sql } from '../store/sql.js';
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

const RECORD = 'name, version, created_at, updated_at, updated_by';

export class SecretStore {
  constructor(
    private readonly sql: Sql,
    private readonly cipher: SecretCipher,
  ) {}

  async list(): Promise<SecretRecord[]> {
    return await this.sql.all<SecretRecord>(`SELECT ${RECORD} FROM secrets ORDER BY name`);
  }

  async get(name: string): Promise<SecretRecord | undefined> {
    return await this.sql.get<SecretRecord>(`SELECT ${RECORD} FROM secrets WHERE name = ?`, [name]);
  }

  /** Names among `names` that are not stored. */
  async unknown(names: readonly string[]): Promise<string[]> {
    if (names.length === 0) return [];
    const stored = new Set((await this.sql.all<{ name: string }>(`SELECT name FROM secrets WHERE name IN (${marks(names)})`, names)).map((row) => row.name));
    return names.filter((name) => !stored.has(name));
  }

  /** Stores a new secret at version 1; undefined when the name is taken. */
  async create(name: string, value: string, author: string): Promise<SecretRecord | undefined> {
    const now = Date.now();
    return await this.sql.get<SecretRecord>(
      `INSERT INTO secrets (name, version, version_id, value, created_at, updated_at, updated_by) VALUES (@name, 1, @version_id, @value, @now, @now, @author)
       ON CONFLICT (name) DO NOTHING RETURNING ${RECORD}`,
      { name, version_id: randomUUID(), value: this.cipher.encrypt(name, value), now, author },
    );
  }

  /** Gives a stored secret a new value and the next version; undefined when there is none. */
  async rotate(name: string, value: string, author: string): Promise<SecretRecord | undefined> {
    // The version id is new at every write, so a secret deleted and created
    // again never repeats a digest an agent may still replay.
    return await this.sql.get<SecretRecord>(
      `UPDATE secrets SET version = version + 1, version_id = @version_id, value = @value, updated_at = @now, updated_by = @author
       WHERE name = @name RETURNING ${RECORD}`,
      { name, version_id: randomUUID(), value: this.cipher.encrypt(name, value), now: Date.now(), author },
    );
  }

  async remove(name: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM secrets WHERE name = ?', [name])).changes > 0;
  }

  /**
   * Inside a transaction: holds the named secrets (in name order) until it
   * ends, so that {@link removeUnused} waits for a save that checked they exist.
   */
  async lock(names: readonly string[]): Promise<void> {
    for (const name of [...new Set(names)].sort()) await this.sql.lock(`secret:${name}`);
  }

  /** Deletes a secret unless a config or template references it; the check and the delete hold the secret's lock (see {@link lock}). */
  async removeUnused(name: string): Promise<'removed' | 'not_found' | SecretUsers> {
    return this.sql.transaction(async () => {
      await this.lock([name]);
      if (!(await this.get(name))) return 'not_found';
      const users = await this.users(name);
      if (users.agents.length > 0 || users.groups.length > 0) return users;
      return (await this.remove(name)) ? 'removed' : 'not_found';
    });
  }

  /** Values (decrypted) and version ids of the stored secrets among `names`. */
  async values(names: readonly string[]): Promise<{ values: Record<string, string>; versions: Record<string, string> }> {
    const values: Record<string, string> = {};
    const versions: Record<string, string> = {};
    if (names.length === 0) return { values, versions };
    const rows = await this.sql.all<Pick<SecretRow, 'name' | 'version_id' | 'value'>>(`SELECT name, version_id, value FROM secrets WHERE name IN (${marks(names)})`, names);
    for (const row of rows) {
      values[row.name] = this.cipher.decrypt(row.name, row.value);
      versions[row.name] = row.version_id;
    }
    return { values, versions };
  }

  /** Every stored secret's value (decrypted), by name. */
  async allValues(): Promise<Record<string, string>> {
    const rows = await this.sql.all<Pick<SecretRow, 'name' | 'value'>>('SELECT name, value FROM secrets');
    return Object.fromEntries(rows.map((row) => [row.name, this.cipher.decrypt(row.name, row.value)]));
  }

  /** Agents and groups whose current config or template references `name`. */
  async users(name: string): Promise<SecretUsers> {
    const pattern = `%${secretReference(name).replace(/[\\%_]/g, '\\$&')}%`;
    const agents = await this.sql.all<{ agent_id: string }>(
      `SELECT r.agent_id FROM agent_config_revisions r JOIN config_documents d ON d.signature = r.signature
       WHERE r.revision = (SELECT MAX(m.revision) FROM agent_config_revisions m WHERE m.agent_id = r.agent_id)
         AND d.document LIKE ? ESCAPE '\\' ORDER BY r.agent_id`,
      [pattern],
    );
    const groups = await this.sql.all<{ name: string }>(
      `SELECT g.name FROM config_groups g JOIN group_template_revisions t ON t.group_name = g.name AND t.revision = g.revision
       WHERE t.template LIKE ? ESCAPE '\\' ORDER BY g.name`,
      [pattern],
    );
    return { agents: agents.map((a) => a.agent_id), groups: groups.map((g) => g.name) };
  }
}

/** `?, ?, …`: one placeholder per name (a document references a handful). */
function marks(names: readonly string[]): string {
  return names.map(() => '?').join(', ');
}
