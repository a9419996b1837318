import { DatabaseFileError } from './database-file.js';
import { MIGRATIONS } from './migrations.js';
import { PG_MIGRATIONS } from './pg-migrations.js';
import { PgSql, type PgSqlOptions } from './pg-sql.js';

/** The schema version this Fusion writes on PostgreSQL: the same number as SQLite's user_version. */
export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;

/**
 * Opens Fusion's PostgreSQL database (`postgres://user@host:5432/db`, with
 * an optional `?schema=name`, else the server's default schema) and brings
 * its schema up to date: see {@link migratePostgres}. The returned PgSql
 * owns a pool; close() it.
 */
export async function openPostgres(url: string, options: PgSqlOptions = {}): Promise<PgSql> {
  if (PG_MIGRATIONS.length !== MIGRATIONS.length) {
    // Both lists grow together (pg-migrations.ts); a build where they differ must not write either schema.
    throw new Error(`the PostgreSQL migrations (${PG_MIGRATIONS.length}) and the SQLite migrations (${MIGRATIONS.length}) differ in number`);
  }
  const sql = new PgSql(url, options);
  try {
    await migratePostgres(sql, describeDatabase(url, sql.schema));
    return sql;
  } catch (err) {
    await sql.close();
    throw err;
  }
}

/**
 * Applies the missing migrations in one transaction, under an advisory lock
 * taken first, so Fusion processes starting together migrate once: the
 * others wait, then find the schema current. A database whose version is
 * newer than this Fusion knows is refused (as a newer SQLite file is); so is
 * a schema that holds tables but no Fusion version (another program's).
 */
export async function migratePostgres(sql: PgSql, where: string): Promise<{ from: number; to: number }> {
  return sql.transaction(async () => {
    await sql.lock(`fusion schema migration ${sql.schema ?? ''}`);
    if (sql.schema !== undefined && (await sql.get('SELECT 1 AS found FROM pg_namespace WHERE nspname = ?', [sql.schema])) === undefined) {
      await sql.exec(`CREATE SCHEMA ${sql.schema}`);
    }
    const known = await sql.get<{ found: number }>("SELECT 1 AS found FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'fusion_schema'");
    if (known === undefined) {
      const others = await sql.get<{ n: number }>('SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = current_schema()');
      if ((others?.n ?? 0) > 0) {
        throw new DatabaseFileError('foreign', `${where} holds tables but no Fusion schema version (no fusion_schema table); refusing to start on another program's tables. Use an empty database, or another schema (?schema=name).`);
      }
      // One row: the version, as SQLite keeps it in PRAGMA user_version.
      await sql.exec('CREATE TABLE fusion_schema (id SMALLINT PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, migrated_at BIGINT NOT NULL)');
    }
    const row = await sql.get<{ version: number }>('SELECT version FROM fusion_schema WHERE id = 1');
    const from = row?.version ?? 0;
    if (from > PG_SCHEMA_VERSION) {
      throw new DatabaseFileError(
        'newer',
        `${where} has a newer schema (version ${from}) than this Fusion understands (version ${PG_SCHEMA_VERSION}); run the Fusion version that wrote it (a newer database is never changed).`,
      );
    }
    for (let version = from; version < PG_SCHEMA_VERSION; version++) await sql.exec(PG_MIGRATIONS[version]!);
    if (from < PG_SCHEMA_VERSION || row === undefined) {
      await sql.run(
        'INSERT INTO fusion_schema (id, version, migrated_at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version, migrated_at = excluded.migrated_at',
        [PG_SCHEMA_VERSION, Date.now()],
      );
    }
    return { from, to: PG_SCHEMA_VERSION };
  });
}

/** The database as messages name it: host, port, database and schema, never the password. */
export function describeDatabase(url: string, schema: string | undefined): string {
  let name = 'the PostgreSQL database';
  try {
    const parsed = new URL(url);
    name = `PostgreSQL database ${decodeURIComponent(parsed.pathname.replace(/^\//, '')) || '(default)'} on ${parsed.hostname}:${parsed.port || '5432'}`;
  } catch {
    // A key=value connection string: named generically (it may hold a password).
  }
  return schema === undefined ? name : `${name} (schema ${schema})`;
}
