import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FUSION_APPLICATION_ID } from './database-file.js';
import { MIGRATIONS } from './migrations.js';
import { describeDatabase, openPostgres } from './pg-database.js';
import type { PgSql } from './pg-sql.js';
import { autoincrementHighWater, tablesInForeignKeyOrder, type TableInfo } from './sqlite-tables.js';
import { postgresTableDigest, signatureChecker, sqliteTableDigest, type SignatureMismatch, type TableDigest } from './table-digest.js';

/** Rows per INSERT, and the bytes of text a batch may hold before it is sent: memory stays bounded whatever a table holds. */
const BATCH_ROWS = 500;
const BATCH_BYTES = 8 * 1024 * 1024;
/** PostgreSQL's limit of bound parameters in one statement. */
const MAX_PARAMETERS = 65_535;

export interface TableComparison {
  table: string;
  sqlite: TableDigest;
  postgres: TableDigest;
}

export interface CopyReport {
  /** 'copied' (the target was empty) or 'already_copied' (it held an exact copy; nothing was written). */
  outcome: 'copied' | 'already_copied';
  tables: TableComparison[];
  signatures: { checked: number; mismatches: SignatureMismatch[] };
  /** Every table has the same row count and digest on both sides, and every stored config signature matches its config. */
  verified: boolean;
}

/** Why the copy was not made (the target database and the home are unchanged). */
export class CopyRefused extends Error {}

/**
 * `fusion migrate-to-postgres`: copies the SQLite database of a stopped
 * Fusion's home into PostgreSQL and verifies the copy. The home is opened
 * read-only, in one read transaction (one consistent snapshot); the target
 * gets Fusion's schema (openPostgres), must hold no rows unless it already is
 * an exact copy, and receives every table in foreign-key order in one
 * PostgreSQL transaction (all or nothing), with identity sequences moved past
 * the copied keys. Then both sides are compared: row counts, a digest of
 * every table in primary-key order, and each stored config signature.
 */
export async function copyToPostgres(home: string, databaseUrl: string): Promise<CopyReport> {
  const file = join(home, 'fusion.db');
  checkSource(file);
  const source = openSource(file);
  let target: PgSql | undefined;
  try {
    const version = source.pragma('user_version', { simple: true }) as number;
    if ((source.pragma('application_id', { simple: true }) as number) !== FUSION_APPLICATION_ID) throw new CopyRefused(`${file} is not a Fusion database`);
    if (version !== MIGRATIONS.length) {
      throw new CopyRefused(`${file} has schema version ${version}, this Fusion writes version ${MIGRATIONS.length}: start and stop this Fusion once on the home to migrate it, then copy`);
    }
    // One read transaction: the copy and the verification see the same snapshot.
    source.exec('BEGIN');
    const tables = tablesInForeignKeyOrder(source);
    target = await openPostgres(databaseUrl);
    const where = describeDatabase(databaseUrl, target.schema);
    const occupied = await tablesWithRows(target, tables);
    let outcome: CopyReport['outcome'] = 'copied';
    if (occupied.length > 0) {
      const previous = await compare(source, target, tables);
      if (!previous.verified) {
        const differing = previous.tables.filter((t) => t.sqlite.rows !== t.postgres.rows || t.sqlite.digest !== t.postgres.digest).map((t) => t.table);
        const mismatched = previous.signatures.mismatches.length;
        throw new CopyRefused(
          `${where} already holds rows (${occupied.join(', ')}) and is not an exact copy of ${file} (differs in: ${differing.join(', ') || 'none'}` +
            `${mismatched > 0 ? `; ${mismatched} stored config signature(s) do not match their configs` : ''}); copy into an empty database`,
        );
      }
      outcome = 'already_copied';
      source.exec('COMMIT');
      return { ...previous, outcome };
    }
    const into = target;
    await into.transaction(async () => {
      for (const table of tables) await copyTable(source, into, table);
    });
    const report = await compare(source, target, tables);
    source.exec('COMMIT');
    return { ...report, outcome };
  } finally {
    if (source.inTransaction) source.exec('ROLLBACK');
    source.close();
    await target?.close();
  }
}

/**
 * A running Fusion keeps fusion.db-wal open (a clean stop removes it): the
 * copy would miss what it writes next, and agents would be told things the
 * copy never holds. So the home must be stopped first.
 */
function checkSource(file: string): void {
  if (!existsSync(file)) throw new CopyRefused(`no Fusion database at ${file}`);
  if (existsSync(`${file}-wal`)) {
    throw new CopyRefused(`${file}-wal exists: Fusion is running on this home, or did not stop cleanly. Stop Fusion first (after a crash, start and stop it once), then copy`);
  }
}

/**
 * Opens the home's database so that nothing can be written through it
 * (query_only). Not SQLite's read-only mode: a read-only connection to a WAL
 * database leaves a -wal and -shm behind, which the next Fusion would find;
 * this one, as the last connection, removes them on close.
 */
function openSource(file: string): Database.Database {
  const db = new Database(file, { fileMustExist: true });
  db.pragma('query_only = ON');
  return db;
}

async function tablesWithRows(sql: PgSql, tables: TableInfo[]): Promise<string[]> {
  const occupied: string[] = [];
  for (const table of tables) {
    const row = await sql.get<{ found: number }>(`SELECT 1 AS found FROM "${table.name}" LIMIT 1`);
    if (row !== undefined) occupied.push(table.name);
  }
  return occupied;
}

/** Streams one table into PostgreSQL in multi-row INSERTs, then moves its identity sequence past the copied keys. */
async function copyTable(source: Database.Database, target: PgSql, table: TableInfo): Promise<void> {
  const columns = table.columns.map((c) => `"${c}"`).join(', ');
  const rowsPerInsert = Math.max(1, Math.min(BATCH_ROWS, Math.floor(MAX_PARAMETERS / table.columns.length)));
  const row = `(${table.columns.map(() => '?').join(', ')})`;
  let values: unknown[] = [];
  let rows = 0;
  let bytes = 0;
  const send = async (): Promise<void> => {
    if (rows === 0) return;
    await target.run(`INSERT INTO "${table.name}" (${columns}) VALUES ${Array.from({ length: rows }, () => row).join(', ')}`, values);
    values = [];
    rows = 0;
    bytes = 0;
  };
  const statement = source.prepare(`SELECT ${columns} FROM "${table.name}" ORDER BY ${table.orderBy.map((c) => `"${c}"`).join(', ')}`).raw(true);
  for (const record of statement.iterate() as Iterable<unknown[]>) {
    for (const value of record) {
      values.push(value);
      if (typeof value === 'string' || value instanceof Uint8Array) bytes += value.length;
    }
    rows++;
    if (rows >= rowsPerInsert || bytes >= BATCH_BYTES) await send();
  }
  await send();
  const identities = await target.all<{ column_name: string }>(
    "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? AND is_identity = 'YES'",
    [table.name],
  );
  for (const { column_name: column } of identities) {
    // Past the highest key ever handed out (sqlite_sequence), so a deleted key is not reused, as AUTOINCREMENT promises.
    const max = (await target.get<{ max: number | null }>(`SELECT max("${column}") AS max FROM "${table.name}"`))?.max ?? 0;
    const next = Math.max(max, autoincrementHighWater(source, table.name)) + 1;
    await target.get('SELECT setval(pg_get_serial_sequence(?, ?), ?, false)', [table.name, column, next]);
  }
}

/** Row counts, digests and config signatures of both sides. */
async function compare(source: Database.Database, target: PgSql, tables: TableInfo[]): Promise<Omit<CopyReport, 'outcome'>> {
  const signatures = { checked: 0, mismatches: [] as SignatureMismatch[] };
  const comparisons: TableComparison[] = [];
  for (const table of tables) {
    const sqlite = sqliteTableDigest(source, table);
    const postgres = await postgresTableDigest(target, table, signatureChecker(table.name, signatures));
    comparisons.push({ table: table.name, sqlite, postgres });
  }
  const tablesMatch = comparisons.every((c) => c.sqlite.rows === c.postgres.rows && c.sqlite.digest === c.postgres.digest);
  return { tables: comparisons, signatures, verified: tablesMatch && signatures.mismatches.length === 0 };
}

/** The report as the command prints it: one line a table, then the verdict. */
export function formatCopyReport(report: CopyReport): string {
  const width = Math.max(5, ...report.tables.map((t) => t.table.length));
  const lines = [`${'table'.padEnd(width)}  ${'sqlite'.padStart(8)}  ${'postgres'.padStart(8)}  digest`];
  for (const t of report.tables) {
    const same = t.sqlite.digest === t.postgres.digest && t.sqlite.rows === t.postgres.rows;
    lines.push(`${t.table.padEnd(width)}  ${String(t.sqlite.rows).padStart(8)}  ${String(t.postgres.rows).padStart(8)}  ${same ? 'equal' : 'DIFFERENT'}`);
  }
  const { checked, mismatches } = report.signatures;
  lines.push(`config signatures: ${checked} checked, ${mismatches.length === 0 ? 'all match their configs' : `${mismatches.length} do NOT match`}`);
  for (const m of mismatches) lines.push(`  ${m.table} ${m.key}: stored ${m.stored}, computed ${m.computed}`);
  if (report.outcome === 'already_copied') lines.push('the database already held this copy; nothing was written');
  lines.push(report.verified ? 'verified: the PostgreSQL database holds exactly what fusion.db holds' : 'NOT verified: the copy differs from fusion.db (see above)');
  return lines.join('\n');
}
