import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level and no white space, so two
 * documents that differ only in key order or formatting serialise alike.
 * `undefined` members are dropped, as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.keys(value as Record<string, unknown>)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/**
 * The signature of a config document: `sha256:<hex>` of its canonical JSON.
 * Both Fusion and the agent sign the normalised document (see normalizeConfig),
 * so a comment, white space or a spelled-out default is no change.
 */
export function configSignature(document: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(document)).digest('hex')}`;
}
