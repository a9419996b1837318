import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { configSignature, parseDocumentText } from '../../shared/config/index.js';
import type { PgSql } from './pg-sql.js';
import type { TableInfo } from './sqlite-tables.js';

/** Rows fetched per round trip when PostgreSQL is read through a cursor. */
const FETCH_ROWS = 500;

/** What one side holds of a table: its row count and a digest of every row in primary-key order. */
export interface TableDigest {
  rows: number;
  /** sha256 (hex) over the rows, each a JSON array of its values (BLOBs as base64). */
  digest: string;
}

/** A stored signature that is not the signature of the document stored with it. */
export interface SignatureMismatch {
  table: string;
  key: string;
  stored: string;
  computed: string;
}

/**
 * Normalises one value so both databases write it the same: numbers stay
 * numbers (BIGINT reads back as a number), BLOB / BYTEA as base64.
 */
function normalise(value: unknown): unknown {
  if (value instanceof Uint8Array) return { base64: Buffer.from(value).toString('base64') };
  return value ?? null;
}

class Digest {
  private readonly hash = createHash('sha256');
  rows = 0;
  add(values: unknown[]): void {
    this.hash.update(`${JSON.stringify(values.map(normalise))}\n`);
    this.rows++;
  }
  finish(): TableDigest {
    return { rows: this.rows, digest: this.hash.digest('hex') };
  }
}

const quote = (name: string): string => `"${name}"`;

/** The digest of a SQLite table, streamed row by row (inside the caller's read transaction). */
export function sqliteTableDigest(db: Database.Database, table: TableInfo): TableDigest {
  const digest = new Digest();
  const statement = db.prepare(`SELECT ${table.columns.map(quote).join(', ')} FROM ${quote(table.name)} ORDER BY ${table.orderBy.map(quote).join(', ')}`).raw(true);
  for (const row of statement.iterate() as Iterable<unknown[]>) digest.add(row);
  return digest.finish();
}

/**
 * The digest of the same table on PostgreSQL, read through a cursor so a
 * large table is never held whole. Text is ordered byte-wise (COLLATE "C")
 * and NULLs first, as SQLite orders them; `onRow` sees every row (the
 * signature checks).
 */
export async function postgresTableDigest(sql: PgSql, table: TableInfo, onRow?: (row: Record<string, unknown>) => void): Promise<TableDigest> {
  const digest = new Digest();
  const order = table.orderBy.map((c) => `${quote(c)}${table.textColumns.has(c) ? ' COLLATE "C"' : ''} NULLS FIRST`).join(', ');
  await sql.transaction(async () => {
    await sql.exec(`DECLARE fusion_digest NO SCROLL CURSOR FOR SELECT ${table.columns.map(quote).join(', ')} FROM ${quote(table.name)} ORDER BY ${order}`);
    for (;;) {
      const rows = await sql.all<Record<string, unknown>>(`FETCH ${FETCH_ROWS} FROM fusion_digest`);
      for (const row of rows) {
        digest.add(table.columns.map((c) => row[c]));
        onRow?.(row);
      }
      if (rows.length < FETCH_ROWS) break;
    }
    await sql.exec('CLOSE fusion_digest');
  });
  return digest.finish();
}

/**
 * Checks, for the tables that carry a config signature beside the config it
 * signs, that the signature is the document's: config_documents (JSON
 * documents) and group_template_revisions (YAML templates). Returns the row
 * checker for `table`, or undefined when the table has none.
 */
export function signatureChecker(table: string, found: { checked: number; mismatches: SignatureMismatch[] }): ((row: Record<string, unknown>) => void) | undefined {
  const check = (key: string, stored: unknown, text: unknown, format: 'json' | 'yaml'): void => {
    found.checked++;
    let computed: string;
    try {
      // A stored document is JSON.stringify of a validated one (it may exceed the 1 MiB an upload may); a template is the YAML an admin wrote.
      const parsed = format === 'json' ? { ok: true as const, value: JSON.parse(String(text)) as unknown } : parseDocumentText(String(text), format);
      computed = parsed.ok ? configSignature(parsed.value) : `unparsable: ${parsed.errors[0]?.message ?? 'invalid'}`;
    } catch (err) {
      computed = `unparsable: ${(err as Error).message}`;
    }
    if (computed !== stored && found.mismatches.length < 100) found.mismatches.push({ table, key, stored: String(stored), computed });
  };
  if (table === 'config_documents') return (row) => check(String(row.signature), row.signature, row.document, 'json');
  if (table === 'group_template_revisions') return (row) => check(`${String(row.group_name)}@${String(row.revision)}`, row.signature, row.template, 'yaml');
  return undefined;
}
