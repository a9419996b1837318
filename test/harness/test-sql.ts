import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { openDatabase } from '../../server/store/database.js';
import { openPostgres } from '../../server/store/pg-database.js';
import { SqliteSql } from '../../server/store/sqlite-sql.js';
import type { Sql } from '../../server/store/sql.js';
import { createTempDatabase, requirePostgres, type TempDatabase } from './postgres.js';
import { tempHome } from './temp-home.js';

/** The two databases Fusion runs on. */
export type TestBackend = 'sqlite' | 'postgres';
export const TEST_BACKENDS: readonly TestBackend[] = ['sqlite', 'postgres'];

/** A migrated Fusion database, empty, reached through {@link Sql}. */
export interface TestSql {
  readonly sql: Sql;
  readonly backend: TestBackend;
  /** Closes it and removes what it was stored in (the temporary home or schema). */
  close(): Promise<void>;
}

/** A migrated SQLite database in a temporary home. */
export async function openSqliteTestSql(): Promise<TestSql> {
  const home = await tempHome('test-sql-');
  const sql = new SqliteSql(openDatabase(path.join(home.path, 'fusion.db')));
  return {
    sql,
    backend: 'sqlite',
    async close() {
      await sql.close();
      await home.remove();
    },
  };
}

/** A migrated schema of its own in `database` (a temporary database); close() drops the schema. */
export async function openPgTestSql(database: TempDatabase): Promise<TestSql> {
  const schema = `t_${randomBytes(5).toString('hex')}`;
  const sql = await openPostgres(`${database.url}?schema=${schema}`, { maxConnections: 4 });
  return {
    sql,
    backend: 'postgres',
    async close() {
      await sql.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await sql.close();
    },
  };
}

/**
 * Declares `body` once per backend: `describe('<title> (sqlite)')` and
 * `describe('<title> (postgres)')`. Each test gets a fresh, migrated, empty
 * database as `db.sql` (a new SQLite file, or a new PostgreSQL schema in a
 * database created for the suite and dropped after it). The PostgreSQL half
 * is skipped with a message when PostgreSQL does not answer, except in CI.
 */
export function describeOnBackends(title: string, body: (db: { readonly sql: Sql; readonly backend: TestBackend }) => void): void {
  const hooks = globalThis as unknown as Record<'describe' | 'before' | 'after' | 'beforeEach' | 'afterEach', (...args: any[]) => void>;
  for (const backend of TEST_BACKENDS) {
    hooks.describe(`${title} (${backend})`, function () {
      let database: TempDatabase | undefined;
      let current: TestSql | undefined;
      if (backend === 'postgres') {
        hooks.before(async function (this: { skip(): void }) {
          await requirePostgres(this);
          database = await createTempDatabase();
        });
        hooks.after(async () => {
          await database?.drop();
        });
      }
      hooks.beforeEach(async () => {
        current = backend === 'postgres' ? await openPgTestSql(database!) : await openSqliteTestSql();
      });
      hooks.afterEach(async () => {
        await current?.close();
        current = undefined;
      });
      body({
        get sql(): Sql {
          if (current === undefined) throw new Error('describeOnBackends: no database outside a test');
          return current.sql;
        },
        backend,
      });
    });
  }
}
