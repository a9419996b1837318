/**
 * The SQLite and PostgreSQL migration lists must build the same schema:
 * both are applied in full and their tables, columns (name, type,
 * nullability, default), primary keys, unique constraints, indexes, foreign
 * keys and CHECK counts compared. A migration appended to one list only, or
 * translated wrongly, fails here.
 */
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { MIGRATIONS } from '../../server/store/migrations.js';
import { PG_MIGRATIONS } from '../../server/store/pg-migrations.js';
import { openPostgres } from '../../server/store/pg-database.js';
import type { PgSql } from '../../server/store/pg-sql.js';
import { withTempPostgres } from '../harness/postgres.js';

/** One table as both databases describe it, normalised to compare equal. */
interface TableShape {
  columns: string[];
  primaryKey: string;
  unique: string[];
  indexes: string[];
  foreignKeys: string[];
  checks: number;
}
type SchemaShape = Record<string, TableShape>;

/** SQLite's declared types and the PostgreSQL types they become. */
const TYPE: Record<string, string> = { INTEGER: 'bigint', TEXT: 'text', BLOB: 'bytea', bigint: 'bigint', text: 'text', bytea: 'bytea' };

/** A default as text without PostgreSQL's casts: '{}'::text → '{}'. */
const normaliseDefault = (value: string | null): string => (value === null ? '-' : value.replace(/::[a-z ]+$/, ''));

function sqliteShape(): SchemaShape {
  const db = new Database(':memory:');
  try {
    for (const migration of MIGRATIONS) db.exec(migration);
    const shape: SchemaShape = {};
    const tables = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string; sql: string }>;
    for (const { name, sql } of tables) {
      const columns = db.prepare(`PRAGMA table_info(${name})`).all() as Array<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>;
      const pk = columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
      const autoincrement = /AUTOINCREMENT/i.test(sql);
      const unique: string[] = [];
      const indexes: string[] = [];
      for (const index of db.prepare(`PRAGMA index_list(${name})`).all() as Array<{ name: string; unique: number; origin: string; partial: number }>) {
        const cols = (db.prepare(`PRAGMA index_info(${index.name})`).all() as Array<{ name: string }>).map((c) => c.name).join(',');
        if (index.origin === 'pk') continue;
        if (index.unique) unique.push(cols);
        if (index.origin === 'c') indexes.push(`${index.name}(${cols})${index.unique ? ' unique' : ''}${index.partial ? ' partial' : ''}`);
      }
      const foreignKeys = (db.prepare(`PRAGMA foreign_key_list(${name})`).all() as Array<{ table: string; from: string; to: string; on_delete: string }>).map(
        (fk) => `${fk.from} → ${fk.table}(${fk.to}) on delete ${fk.on_delete.toLowerCase()}`,
      );
      shape[name] = {
        // A primary key column is NOT NULL on PostgreSQL by definition (SQLite only enforces it for INTEGER PRIMARY KEY).
        columns: columns.map((c) => {
          const identity = autoincrement && pk.length === 1 && pk[0] === c.name;
          return `${c.name} ${TYPE[c.type]} ${c.notnull || c.pk ? 'not null' : 'null'} default ${identity ? 'identity' : normaliseDefault(c.dflt_value)}`;
        }),
        primaryKey: pk.join(','),
        unique: unique.sort(),
        indexes: indexes.sort(),
        foreignKeys: foreignKeys.sort(),
        checks: (sql.match(/\bCHECK\s*\(/gi) ?? []).length,
      };
    }
    return shape;
  } finally {
    db.close();
  }
}

async function postgresShape(sql: PgSql): Promise<SchemaShape> {
  const shape: SchemaShape = {};
  const tables = await sql.all<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name <> 'fusion_schema'");
  for (const { name } of tables) {
    const columns = await sql.all<{ column_name: string; data_type: string; is_nullable: string; column_default: string | null; is_identity: string }>(
      'SELECT column_name, data_type, is_nullable, column_default, is_identity FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position',
      [name],
    );
    const indexes = await sql.all<{ name: string; is_unique: boolean; is_primary: boolean; partial: boolean; constraint_index: boolean; cols: string }>(
      `SELECT i.relname AS name, ix.indisunique AS is_unique, ix.indisprimary AS is_primary, ix.indpred IS NOT NULL AS partial,
         EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid) AS constraint_index,
         (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum) AS cols
       FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_class i ON i.oid = ix.indexrelid
       WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ?`,
      [name],
    );
    const foreignKeys = await sql.all<{ cols: string; target: string; target_cols: string; on_delete: string }>(
      `SELECT (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS cols,
         r.relname AS target,
         (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum) AS target_cols,
         c.confdeltype AS on_delete
       FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid
       WHERE c.contype = 'f' AND t.relnamespace = current_schema()::regnamespace AND t.relname = ?`,
      [name],
    );
    const checks = await sql.get<{ n: number }>(
      "SELECT count(*) AS n FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid WHERE c.contype = 'c' AND t.relnamespace = current_schema()::regnamespace AND t.relname = ?",
      [name],
    );
    const onDelete: Record<string, string> = { a: 'no action', c: 'cascade', r: 'restrict', n: 'set null', d: 'set default' };
    shape[name] = {
      columns: columns.map(
        (c) => `${c.column_name} ${TYPE[c.data_type] ?? c.data_type} ${c.is_nullable === 'NO' ? 'not null' : 'null'} default ${c.is_identity === 'YES' ? 'identity' : normaliseDefault(c.column_default)}`,
      ),
      primaryKey: indexes.find((i) => i.is_primary)?.cols ?? '',
      unique: indexes.filter((i) => i.is_unique && !i.is_primary).map((i) => i.cols).sort(),
      indexes: indexes.filter((i) => !i.constraint_index).map((i) => `${i.name}(${i.cols})${i.is_unique ? ' unique' : ''}${i.partial ? ' partial' : ''}`).sort(),
      foreignKeys: foreignKeys.map((fk) => `${fk.cols} → ${fk.target}(${fk.target_cols}) on delete ${onDelete[fk.on_delete]}`).sort(),
      checks: checks!.n,
    };
  }
  return shape;
}

describe('PostgreSQL schema', function () {
  const database = withTempPostgres();

  it('has as many migrations as SQLite, each numbered the same', () => {
    expect(PG_MIGRATIONS.length).to.equal(MIGRATIONS.length);
  });

  it('matches the SQLite schema table by table', async () => {
    const sql = await openPostgres(database.url);
    try {
      const expected = sqliteShape();
      const actual = await postgresShape(sql);
      expect(Object.keys(actual).sort()).to.deep.equal(Object.keys(expected).sort());
      for (const table of Object.keys(expected)) expect(actual[table], table).to.deep.equal(expected[table]);
      expect(await sql.get('SELECT version FROM fusion_schema')).to.deep.equal({ version: MIGRATIONS.length });
    } finally {
      await sql.close();
    }
  });
});
