import pg from 'pg';

/** OIDs of the types whose text node-postgres would otherwise hand back as a string. */
const INT8 = 20;
const NUMERIC = 1700;

/**
 * BIGINT (timestamps in ms, ids, counters, COUNT(*)) as a JavaScript number,
 * as SQLite returns it. Fusion never stores an integer past 2^53 - 1, so a
 * larger one is a corrupt or foreign row: refused loudly instead of rounded.
 */
export function parseBigint(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`BIGINT ${text} is beyond Number.MAX_SAFE_INTEGER; Fusion reads integers as JavaScript numbers`);
  return value;
}

/** NUMERIC (what SUM and AVG return) as a number; an integer past 2^53 - 1 is refused as for BIGINT. */
export function parseNumeric(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || (!text.includes('.') && !Number.isSafeInteger(value))) {
    throw new RangeError(`NUMERIC ${text} does not fit a JavaScript number`);
  }
  return value;
}

/**
 * The type parsers of one pool (node-postgres' global `pg.types` is left
 * alone, so another user of `pg` in the process keeps its own choices).
 * Booleans, INTEGER and double precision are already numbers / booleans.
 */
export const FUSION_PG_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (format !== 'binary') {
      if (oid === INT8) return parseBigint;
      if (oid === NUMERIC) return parseNumeric;
    }
    return pg.types.getTypeParser(oid, format as 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};
