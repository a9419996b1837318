/**
 * Secret references in agent configs: `${secret:name}` stands for the value
 * of the secret `name` held (encrypted) by Fusion. Stored documents, their
 * signatures, revisions and reports keep the reference; only the config frame
 * or pull answer built for an agent carries the values, and the agent
 * substitutes them at apply time. Shared so Fusion and the agent find and
 * resolve references alike.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './signature.js';

/** A secret's name: letters, digits, dot, dash and underscore, starting with a letter or digit. */
export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Largest secret value, in bytes. */
export const MAX_SECRET_BYTES = 16 * 1024;

/** `${secret:name}` anywhere inside a string value. */
const SECRET_REFERENCE = /\$\{secret:([^{}]*)\}/g;

/** The whole text of a reference to `name`. */
export function secretReference(name: string): string {
  return `\${secret:${name}}`;
}

/** Names of the secrets a document references (every string value, at any depth), sorted and distinct. */
export function secretNames(document: unknown): string[] {
  const names = new Set<string>();
  visitStrings(document, (text) => {
    if (!text.includes('${secret:')) return;
    for (const match of text.matchAll(SECRET_REFERENCE)) names.add(match[1]!);
  });
  return [...names].sort();
}

/** References whose name is not a valid secret name (each as written), for a clear 400. */
export function malformedSecretNames(names: readonly string[]): string[] {
  return names.filter((name) => !SECRET_NAME.test(name));
}

export type SecretResolution = { ok: true; document: Record<string, unknown> } | { ok: false; missing: string[] };

/**
 * A copy of `document` with every `${secret:name}` replaced by `values[name]`.
 * Names without a value are listed (nothing is half resolved); `document` is
 * never changed.
 */
export function resolveSecrets(document: Record<string, unknown>, values: Readonly<Record<string, string>>): SecretResolution {
  const missing = secretNames(document).filter((name) => !Object.hasOwn(values, name));
  if (missing.length > 0) return { ok: false, missing };
  const replace = (text: string): string => (text.includes('${secret:') ? text.replace(SECRET_REFERENCE, (_whole, name: string) => values[name]!) : text);
  return { ok: true, document: mapStrings(document, replace) as Record<string, unknown> };
}

/**
 * The digest of the secret versions a config uses: `sha256:<hex>` of the
 * canonical JSON of name → version id. It names versions, never values, so it
 * may be logged, stored and replayed in `hello` or a pull; a rotation changes
 * it while the document (and its signature) stays the same.
 */
export function secretsDigest(versions: Readonly<Record<string, string>>): string {
  return `sha256:${createHash('sha256').update(canonicalJson(versions)).digest('hex')}`;
}

/** A copy of `value` with every string (at any depth) passed through `map`; keys are kept as they are. */
export function mapStrings(value: unknown, map: (text: string) => string): unknown {
  if (typeof value === 'string') return map(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, map));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    // defineProperty: a key named `__proto__` stays a plain key.
    for (const [key, item] of Object.entries(value)) Object.defineProperty(out, key, { value: mapStrings(item, map), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

function visitStrings(value: unknown, visit: (text: string) => void): void {
  if (typeof value === 'string') visit(value);
  else if (Array.isArray(value)) for (const item of value) visitStrings(item, visit);
  else if (value !== null && typeof value === 'object') for (const item of Object.values(value)) visitStrings(item, visit);
}
