import YAML, { isAlias, isMap, isPair, isScalar, isSeq, type Node } from 'yaml';
import { treeIssue } from '../plain-tree.js';
import { nonCanonicalValues } from './signature.js';

/** One problem found in a config document, with the path to it (dotted, `(root)` for the whole). */
export interface ConfigIssue {
  path: string;
  message: string;
}

export type DocumentParse = { ok: true; value: unknown } | { ok: false; errors: ConfigIssue[] };

/** Largest config text accepted, in bytes. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** YAML aliases allowed in one document; more is treated as an alias bomb. */
export const MAX_YAML_ALIASES = 100;

/**
 * Parses YAML or JSON text into a plain value. Never throws: syntax errors,
 * oversized input, alias bombs, duplicate keys, nesting past
 * MAX_DOCUMENT_DEPTH and reserved names (`__proto__`, `constructor`, ...)
 * as keys come back as issues. Linear in the size of the text: duplicate
 * keys are found with one set per mapping (the YAML library's own check
 * compares every pair of keys).
 */
export function parseDocumentText(text: string, format: 'yaml' | 'json'): DocumentParse {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > MAX_CONFIG_BYTES) {
    return fail('(root)', `document of ${size} bytes exceeds the limit of ${MAX_CONFIG_BYTES}`);
  }
  let value: unknown;
  try {
    value = format === 'json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    if (err instanceof IssueError) return { ok: false, errors: err.issues };
    const kind = format === 'json' ? 'JSON' : 'YAML';
    return fail('(root)', err instanceof RangeError ? `invalid ${kind}: nested too deeply` : `invalid ${kind}: ${(err as Error).message}`);
  }
  const issue = treeIssue(value);
  if (issue) return fail(issue.path, issue.message);
  // Accepted only with a canonical JSON form, so it can be signed.
  const errors = nonCanonicalValues(value);
  return errors.length ? { ok: false, errors } : { ok: true, value };
}

class IssueError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(issues[0]?.message ?? 'invalid');
  }
}

function fail(path: string, message: string): { ok: false; errors: ConfigIssue[] } {
  return { ok: false, errors: [{ path, message }] };
}

function parseYaml(text: string): unknown {
  const doc = YAML.parseDocument(text, { uniqueKeys: false, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new IssueError(doc.errors.map((e) => ({ path: '(root)', message: `invalid YAML: ${e.message.split('\n')[0]}` })));
  }
  const duplicate = findDuplicateKey(doc.contents);
  if (duplicate) throw new IssueError([duplicate]);
  return doc.toJS({ maxAliasCount: MAX_YAML_ALIASES }) ?? {};
}

/** The first mapping key that appears twice in its mapping, walking the tree once. */
function findDuplicateKey(root: Node | null): ConfigIssue | undefined {
  const stack: Array<{ node: unknown; path: string }> = [{ node: root, path: '' }];
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? String(pair.key.value) : isAlias(pair.key) ? `*${pair.key.source}` : String(pair.key);
        const at = path ? `${path}.${key}` : key;
        if (seen.has(key)) return { path: at, message: `invalid YAML: map key "${key}" appears twice` };
        seen.add(key);
        stack.push({ node: pair.value, path: at });
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => stack.push({ node: item, path: path ? `${path}.${index}` : String(index) }));
    }
  }
  return undefined;
}
