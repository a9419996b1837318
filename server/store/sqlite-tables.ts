import type Database from 'better-sqlite3';

/** One table of Fusion's SQLite schema, as the copy to PostgreSQL needs it. */
export interface TableInfo {
  name: string;
  columns: string[];
  /** Columns declared TEXT (ordered byte-wise on PostgreSQL, as SQLite's BINARY collation does). */
  textColumns: Set<string>;
  /** The primary key, or every column when the table has none: the order rows are compared in. */
  orderBy: string[];
}

/**
 * Fusion's tables in foreign-key order (a table after every table it
 * references), so rows can be inserted with the constraints checked.
 */
export function tablesInForeignKeyOrder(db: Database.Database): TableInfo[] {
  const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);
  const references = new Map<string, string[]>();
  for (const name of names) {
    const fks = db.prepare(`PRAGMA foreign_key_list("${name}")`).all() as Array<{ table: string }>;
    references.set(name, [...new Set(fks.map((fk) => fk.table).filter((t) => t !== name))]);
  }
  const ordered: string[] = [];
  const visiting = new Set<string>();
  const visit = (name: string): void => {
    if (ordered.includes(name)) return;
    if (visiting.has(name)) throw new Error(`foreign keys form a cycle through ${name}`);
    visiting.add(name);
    for (const target of references.get(name) ?? []) visit(target);
    visiting.delete(name);
    ordered.push(name);
  };
  for (const name of names) visit(name);
  return ordered.map((name) => {
    const info = db.prepare(`PRAGMA table_info("${name}")`).all() as Array<{ name: string; type: string; pk: number }>;
    const pk = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
    return {
      name,
      columns: info.map((c) => c.name),
      textColumns: new Set(info.filter((c) => c.type.toUpperCase() === 'TEXT').map((c) => c.name)),
      orderBy: pk.length > 0 ? pk : info.map((c) => c.name),
    };
  });
}

/** The highest key SQLite's AUTOINCREMENT handed out for `table` (sqlite_sequence), deleted rows included. */
export function autoincrementHighWater(db: Database.Database, table: string): number {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'").get();
  if (!exists) return 0;
  const row = db.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?').get(table) as { seq: number } | undefined;
  return row?.seq ?? 0;
}
