/**
 * Errors both {@link Sql} implementations raise the same way, recognised
 * without caring which database answered.
 */

/** SQLite's extended codes for a duplicate key; PostgreSQL's SQLSTATE unique_violation. */
const UNIQUE_CODES = new Set(['23505', 'SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY']);

/** True when `err` is a write refused because a unique index or primary key already holds the value. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && UNIQUE_CODES.has(code);
}
