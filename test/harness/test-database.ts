import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { openDatabase } from '../../server/store/database.js';
import { openPostgres } from '../../server/store/pg-database.js';
import { SqliteSql } from '../../server/store/sqlite-sql.js';
import type { Sql } from '../../server/store/sql.js';
import { createTempDatabase, postgresUnavailable, type TempDatabase } from './postgres.js';

/**
 * Which database the Fusions a test starts keep their state in:
 * FUSION_TEST_DATABASE=postgres runs them on PostgreSQL (`npm test` runs the
 * server suites a second time so), anything else on the home's SQLite file.
 */
export function testDatabaseBackend(): 'sqlite' | 'postgres' {
  return process.env.FUSION_TEST_DATABASE === 'postgres' ? 'postgres' : 'sqlite';
}

let suiteDatabase: Promise<TempDatabase> | undefined;
/** Schema URL of each home a test Fusion used, so a restart on that home finds its state again. */
const schemas = new Map<string, { url: string; schema: string }>();

/**
 * The PostgreSQL URL a test Fusion on `home` uses: a schema of its own in
 * one database created for this test process (dropped when it exits). The
 * same home gets the same schema, as a restart on a home finds its fusion.db.
 */
export async function postgresUrlForHome(home: string): Promise<string> {
  const known = schemas.get(home);
  if (known) return known.url;
  suiteDatabase ??= openSuiteDatabase();
  const database = await suiteDatabase;
  const schema = `h_${randomBytes(6).toString('hex')}`;
  const url = `${database.url}?schema=${schema}`;
  schemas.set(home, { url, schema });
  return url;
}

/** Drops the schema of `home` (its Fusion stopped for good, its home removed). */
export async function forgetHome(home: string): Promise<void> {
  const known = schemas.get(home);
  if (!known || !suiteDatabase) return;
  schemas.delete(home);
  const database = await suiteDatabase;
  const client = new pg.Client({ connectionString: database.url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${known.schema} CASCADE`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function openSuiteDatabase(): Promise<TempDatabase> {
  const why = await postgresUnavailable();
  if (why !== undefined) throw new Error(`FUSION_TEST_DATABASE=postgres, but PostgreSQL does not answer: ${why}`);
  const database = await createTempDatabase();
  // Dropped once the test process has nothing left to do (mocha runs without --exit).
  process.once('beforeExit', () => void database.drop().catch(() => undefined));
  return database;
}

/**
 * A second connection to the database a test Fusion on `home` keeps its
 * state in (the home's fusion.db, or its PostgreSQL schema), for a test
 * that reads or writes behind Fusion's back. Close it when done.
 */
export async function openHomeSql(home: string): Promise<Sql> {
  if (testDatabaseBackend() === 'postgres') return openPostgres(await postgresUrlForHome(home), { maxConnections: 2 });
  return new SqliteSql(openDatabase(path.join(home, 'fusion.db')));
}

/**
 * For a suite about the SQLite file itself (backups, first start, a full
 * disk, copying a home to PostgreSQL): skipped with a message when test
 * Fusions run on PostgreSQL; the SQLite run covers it.
 */
export function skipOnPostgres(context: { skip(): void }): void {
  if (testDatabaseBackend() !== 'postgres') return;
  console.warn('    skipped with FUSION_TEST_DATABASE=postgres: this suite is about the SQLite file (it runs in the SQLite pass)');
  context.skip();
}
