/**
 * The doc comments of a TypeScript source, by declaration and member path:
 * `/** ... *\/ name:` inside `export const Frame = z.object({ ... })` is the
 * description of `Frame` field `name`; inside a nested object it is
 * `parent.name`. Spread members (`...configBase`) take the comments of the
 * declaration they spread. A small scanner (comments, strings, regular
 * expression literals and braces), enough for shared/protocol's style, so the
 * schemas keep one source of truth: their doc comments.
 */

export interface DocComments {
  /** Comment above `export const Name`, if any. */
  declarations: Map<string, string>;
  /** `Name` → member path (`config.signature`) → comment. */
  members: Map<string, Map<string, string>>;
}

export function docComments(sources: readonly string[]): DocComments {
  const declarations = new Map<string, string>();
  const members = new Map<string, Map<string, string>>();
  const spreads = new Map<string, string[]>();
  for (const source of sources) scan(source, declarations, members, spreads);
  for (const [name, from] of spreads) {
    const own = members.get(name) ?? new Map<string, string>();
    for (const base of from) for (const [path, text] of members.get(base) ?? []) if (!own.has(path)) own.set(path, text);
    members.set(name, own);
  }
  return { declarations, members };
}

function clean(comment: string): string {
  return comment
    .replace(/^\/\*\*|\*\/$/g, '')
    .split('\n')
    .map((line) => line.replace(/^\s*\* ?/, '').trim())
    .filter((line) => !line.startsWith('@'))
    .join(' ')
    .replace(/\{@link ([^}]+)\}/g, '`$1`')
    .replace(/\s+/g, ' ')
    .trim();
}

function scan(src: string, declarations: DocComments['declarations'], members: DocComments['members'], spreads: Map<string, string[]>): void {
  let current: string | undefined;
  let depth = 0;
  let pending: string | undefined;
  // Per brace depth inside the declaration: the member name that opened it (or '' for an anonymous brace).
  const path: string[] = [];
  let lastMember: { name: string; depth: number } | undefined;
  let prevSignificant = '';
  for (let i = 0; i < src.length; ) {
    const rest = src.slice(i, i + 3);
    if (rest.startsWith('/**')) {
      const end = src.indexOf('*/', i + 3);
      pending = clean(src.slice(i, end + 2));
      i = end + 2;
      continue;
    }
    if (rest.startsWith('/*')) {
      i = src.indexOf('*/', i + 2) + 2;
      continue;
    }
    if (rest.startsWith('//')) {
      const end = src.indexOf('\n', i);
      i = end < 0 ? src.length : end;
      continue;
    }
    const ch = src[i]!;
    if (ch === '"' || ch === "'" || ch === '`') {
      i = skipString(src, i);
      prevSignificant = ch;
      continue;
    }
    if (ch === '/' && /[(,=:[!&|?{};]|^$/.test(prevSignificant)) {
      i = skipRegex(src, i);
      prevSignificant = '/';
      continue;
    }
    if (depth === 0) {
      const decl = /^(export\s+)?const\s+([A-Za-z_$][\w$]*)/.exec(src.slice(i, i + 200));
      if (decl && (i === 0 || /\s/.test(src[i - 1]!))) {
        current = decl[2]!;
        if (pending) declarations.set(current, pending);
        pending = undefined;
        i += decl[0].length;
        prevSignificant = 't';
        continue;
      }
    }
    if (/[A-Za-z_$]/.test(ch) && !/[\w$.]/.test(src[i - 1] ?? '')) {
      const word = /^[A-Za-z_$][\w$]*/.exec(src.slice(i, i + 200))![0];
      const after = src.slice(i + word.length).match(/^\s*(:|\()/);
      if (current && depth > 0 && after?.[1] === ':' && /[{,(]/.test(prevSignificant)) {
        const memberPath = [...path.filter((p) => p !== ''), word].join('.');
        if (pending) {
          const map = members.get(current) ?? new Map<string, string>();
          if (!map.has(memberPath)) map.set(memberPath, pending);
          members.set(current, map);
        }
        lastMember = { name: word, depth };
      }
      pending = undefined;
      i += word.length;
      prevSignificant = 't';
      continue;
    }
    if (src.startsWith('...', i) && current) {
      const spread = /^\.\.\.([A-Za-z_$][\w$]*)/.exec(src.slice(i, i + 200));
      if (spread) {
        spreads.set(current, [...(spreads.get(current) ?? []), spread[1]!]);
        i += spread[0].length;
        prevSignificant = 't';
        continue;
      }
    }
    if (ch === '{') {
      // A brace opened after `name: z.object(` belongs to `name`; any other is anonymous.
      path.push(lastMember && lastMember.depth === depth && depth > 0 ? lastMember.name : '');
      depth++;
      lastMember = undefined;
    } else if (ch === '}') {
      depth--;
      path.pop();
      lastMember = undefined;
    } else if (ch === ',' && lastMember?.depth === depth) {
      lastMember = undefined;
    }
    if (!/\s/.test(ch)) prevSignificant = ch;
    if (ch === ';' && depth === 0) current = undefined;
    i++;
  }
}

function skipString(src: string, start: number): number {
  const quote = src[start]!;
  for (let i = start + 1; i < src.length; i++) {
    if (src[i] === '\\') i++;
    else if (src[i] === quote) return i + 1;
  }
  return src.length;
}

function skipRegex(src: string, start: number): number {
  let inClass = false;
  for (let i = start + 1; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') i++;
    else if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    else if (c === '/' && !inClass) {
      let j = i + 1;
      while (/[a-z]/.test(src[j] ?? '')) j++;
      return j;
    }
    else if (c === '\n') return i;
  }
  return src.length;
}
