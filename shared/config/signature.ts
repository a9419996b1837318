import { createHash } from 'node:crypto';

/** Why a value has no canonical JSON: it is not I-JSON (RFC 7493), as RFC 8785 requires. */
export class CanonicalJsonError extends Error {}

/**
 * RFC 8785 (JCS) canonical JSON: object members sorted by their names as
 * arrays of UTF-16 code units, no white space, strings as ECMAScript's
 * JSON.stringify writes them (only `"`, `\` and control characters escaped,
 * everything else raw UTF-8) and numbers as ECMAScript's Number-to-String
 * (shortest round-trip digits, `1e+21` from 1e21 up, `1e-7` below 1e-6,
 * `-0` as `0`). Those are exactly what JSON.stringify and the default
 * Array.prototype.sort do, so this function leans on them.
 *
 * A value with no JSON form in I-JSON throws {@link CanonicalJsonError}: a
 * non-finite number, or a string or member name with a lone surrogate.
 * `undefined` members are dropped and `undefined` array items written as
 * `null`, as JSON.stringify does; a document parsed from JSON or YAML has neither.
 */
export function canonicalJson(value: unknown): string {
  // Pieces joined once at the end: one flat string, not a rope of every member's text.
  const out: string[] = [];
  writeCanonical(value, out);
  return out.join('');
}

function writeCanonical(value: unknown, out: string[]): void {
  if (value === null || value === undefined) {
    out.push('null');
    return;
  }
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`${value} is not a JSON number`);
      out.push(JSON.stringify(value));
      return;
    case 'string':
      out.push(jsonString(value));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(`a ${typeof value} has no JSON form`);
  }
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      writeCanonical(value[i], out);
    }
    out.push(']');
    return;
  }
  const object = value as Record<string, unknown>;
  const keys = sortedInPlace(Object.keys(object));
  out.push('{');
  let first = true;
  for (const key of keys) {
    const item = object[key];
    if (item === undefined) continue;
    out.push(first ? '' : ',', jsonString(key), ':');
    first = false;
    writeCanonical(item, out);
  }
  out.push('}');
}

/**
 * Sorts member names by UTF-16 code units (what `<` compares and the default
 * sort does, the order RFC 8785 §3.2.3 asks for). A config object has a
 * handful of members: an insertion sort in place allocates nothing.
 */
function sortedInPlace(keys: string[]): string[] {
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

/** A lone (unpaired) UTF-16 surrogate: not a Unicode scalar value, so not I-JSON. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Any surrogate: a plain scan, far cheaper than the look-arounds above, which only run on the rare text that has one. */
const ANY_SURROGATE = /[\uD800-\uDFFF]/;

function hasLoneSurrogate(text: string): boolean {
  return ANY_SURROGATE.test(text) && LONE_SURROGATE.test(text);
}

function jsonString(text: string): string {
  if (hasLoneSurrogate(text)) throw new CanonicalJsonError(`string ${JSON.stringify(text.slice(0, 40))} holds a lone surrogate`);
  return JSON.stringify(text);
}

/**
 * Every place in a parsed document that has no canonical JSON (see
 * {@link canonicalJson}), with a dotted path, so a document is refused with
 * a clear message before anything tries to sign it.
 */
export function nonCanonicalValues(value: unknown, path = ''): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  collectNonCanonical(value, path, issues);
  return issues;
}

/** Walks `value` into `issues` (one array for the whole walk: a valid document, the usual case, allocates nothing). */
function collectNonCanonical(value: unknown, path: string, issues: { path: string; message: string }[]): void {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) issues.push({ path: path || '(root)', message: `${value} is not a finite number` });
    return;
  }
  if (typeof value === 'string') {
    if (hasLoneSurrogate(value)) issues.push({ path: path || '(root)', message: 'text holds a lone UTF-16 surrogate (not Unicode)' });
    return;
  }
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length && issues.length < 100; i++) collectNonCanonical(value[i], path ? `${path}.${i}` : String(i), issues);
    return;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (issues.length >= 100) break;
    const at = path ? `${path}.${key}` : key;
    if (hasLoneSurrogate(key)) issues.push({ path: at, message: 'name holds a lone UTF-16 surrogate (not Unicode)' });
    collectNonCanonical((value as Record<string, unknown>)[key], at, issues);
  }
}

/**
 * The signature of a config document: `sha256:<hex>` of the UTF-8 bytes of
 * its RFC 8785 canonical JSON. Both Fusion and the agent sign the normalised
 * document (what validateConfig returns: defaults filled in), so a comment,
 * white space, key order or a spelled-out default is no change.
 * docs/protocol.md defines it; docs/vectors/signatures.json has test vectors.
 */
export function configSignature(document: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(document), 'utf8').digest('hex')}`;
}
