/**
 * Rewrites the neutral parameter syntax of {@link Sql} (`?` positional,
 * `@name` named) into PostgreSQL's `$1…$n`. Quoted string literals ('…',
 * E'…'), quoted identifiers ("…"), dollar-quoted bodies ($tag$…$tag$) and
 * comments are copied untouched, so a `?` or `@` inside them stays text;
 * `::` casts and PostgreSQL's own `@>`-style operators are left alone (an
 * `@` starts a parameter only when a name follows it).
 */
export interface RewrittenSql {
  /** The statement with `$n` placeholders. */
  text: string;
  /** How many `?` it held (positional style). */
  positional: number;
  /** The `@name`s in `$n` order (named style); a name used twice is one `$n`. */
  names: readonly string[];
}

const NAME_START = /[A-Za-z_]/;
const NAME_PART = /[A-Za-z0-9_]/;

export function rewriteParameters(sql: string): RewrittenSql {
  let text = '';
  let positional = 0;
  const names: string[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === "'" || c === '"') {
      const end = quotedEnd(sql, i, c);
      text += sql.slice(i, end);
      i = end;
    } else if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? n : end;
      text += sql.slice(i, stop);
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      const stop = end === -1 ? n : end + 2;
      text += sql.slice(i, stop);
      i = stop;
    } else if (c === '$' && dollarTag(sql, i) !== undefined) {
      const tag = dollarTag(sql, i)!;
      const end = sql.indexOf(tag, i + tag.length);
      const stop = end === -1 ? n : end + tag.length;
      text += sql.slice(i, stop);
      i = stop;
    } else if (c === ':' && next === ':') {
      text += '::';
      i += 2;
    } else if (c === '?') {
      positional++;
      text += `$${positional}`;
      i++;
    } else if (c === '@' && next !== undefined && NAME_START.test(next)) {
      let j = i + 1;
      while (j < n && NAME_PART.test(sql[j]!)) j++;
      const name = sql.slice(i + 1, j);
      let index = names.indexOf(name);
      if (index === -1) index = names.push(name) - 1;
      text += `$${index + 1}`;
      i = j;
    } else {
      text += c;
      i++;
    }
  }
  if (positional > 0 && names.length > 0) throw new Error(`SQL mixes ? and @name parameters: ${sql.slice(0, 200)}`);
  return { text, positional, names };
}

/** The index just past the literal or identifier opened by `quote` at `start` (a doubled quote is part of it). */
function quotedEnd(sql: string, start: number, quote: string): number {
  // E'…' strings may escape the quote with a backslash.
  const backslashEscapes = quote === "'" && start > 0 && /[eE]/.test(sql[start - 1]!) && (start < 2 || !NAME_PART.test(sql[start - 2]!));
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i]!;
    if (backslashEscapes && c === '\\') {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (sql[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return sql.length;
}

/** `$tag$` (or `$$`) opening a dollar-quoted body at `start`, or undefined (`$1` is not one). */
function dollarTag(sql: string, start: number): string | undefined {
  const match = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(start, start + 66));
  return match ? match[0] : undefined;
}

/**
 * The values for a rewritten statement, in `$n` order. A positional
 * statement takes an array of exactly its `?` count; a named one takes an
 * object that has every name (extra members are ignored, as SQLite does).
 */
export function bindParameters(rewritten: RewrittenSql, params: readonly unknown[] | Readonly<Record<string, unknown>> | undefined, sql: string): unknown[] {
  if (rewritten.names.length > 0) {
    if (params === undefined || Array.isArray(params)) throw new Error(`SQL uses @name parameters but was given ${params === undefined ? 'none' : 'an array'}: ${sql.slice(0, 200)}`);
    const named = params as Readonly<Record<string, unknown>>;
    return rewritten.names.map((name) => {
      if (!Object.prototype.hasOwnProperty.call(named, name)) throw new Error(`missing named parameter @${name}: ${sql.slice(0, 200)}`);
      return named[name];
    });
  }
  const values = params === undefined ? [] : params;
  if (!Array.isArray(values)) {
    if (rewritten.positional === 0 && Object.keys(values).length === 0) return [];
    throw new Error(`SQL uses ? parameters but was given an object: ${sql.slice(0, 200)}`);
  }
  if (values.length !== rewritten.positional) throw new Error(`SQL has ${rewritten.positional} ? parameters but was given ${values.length}: ${sql.slice(0, 200)}`);
  return values.slice();
}
