import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';

/**
 * Validators of stored config texts (an agent's config, a group template,
 * fusion.yaml) and the If-Match check of their writes.
 *
 * A stored text has a *version*, `<revision>-<16 hex of sha256(text)>`, that
 * changes with any byte of the text, comments included, so If-Match catches
 * every concurrent edit. Each representation served at one URL (YAML, JSON)
 * has its own ETag, `"<version>.yaml"` / `"<version>.json"`, and the answer
 * varies by Accept: a cache can never hand one representation's body to a
 * request for the other. The signature stays the document's semantic
 * identity and travels in `X-Config-Signature`.
 */

export type Representation = 'yaml' | 'json';

/** The version of one stored text (`revision`: its revision number, or a name for a file that has none). */
export function textVersion(revision: number | string, text: string): string {
  return `${revision}-${createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 16)}`;
}

/** The ETag of one representation of a stored text (quoted, strong). */
export function entityTag(version: string, representation: Representation): string {
  return `"${version}.${representation}"`;
}

/**
 * Headers of an answer carrying one representation of a stored text: its
 * ETag, `Vary: Accept` when the URL serves more than one representation,
 * `Cache-Control: no-cache` (a cache must revalidate, never serve it blind)
 * and the document's signature.
 */
export function setValidators(res: Response, v: { version: string; representation: Representation; signature?: string | null; negotiated?: boolean }): void {
  res.setHeader('ETag', entityTag(v.version, v.representation));
  if (v.negotiated !== false) res.vary('Accept');
  if (!res.getHeader('Cache-Control')) res.setHeader('Cache-Control', 'no-cache');
  if (v.signature) res.setHeader('X-Config-Signature', v.signature);
}

/** An If-Match header: `*`, or the entity tags it lists (quotes and `W/` removed). */
export type IfMatch = { any: true; header: string } | { any?: false; tags: string[]; header: string };

/** The request's If-Match, or undefined when it has none. */
export function ifMatchOf(req: Request): IfMatch | undefined {
  const header = req.headers['if-match'];
  if (header === undefined || header.trim() === '') return undefined;
  if (header.trim() === '*') return { any: true, header };
  const tags = [...header.matchAll(/(?:W\/)?"([^"]*)"|([^\s,"]+)/g)].map((m) => m[1] ?? m[2]!).filter((t) => t !== '');
  return { tags, header };
}

/**
 * Whether If-Match holds for what is stored now (undefined: nothing is). It
 * holds for `*` when anything is stored, for the current version in either
 * representation, and for the current signature: older clients sent the
 * signature, which only detects a change of the document's meaning (a
 * comment-only edit in between goes unnoticed), so clients should send the ETag.
 */
export function ifMatchHolds(condition: IfMatch | undefined, current: { version: string; signature: string | null } | undefined): boolean {
  if (condition === undefined) return true;
  if (current === undefined) return false;
  if (condition.any) return true;
  const accepted = new Set([current.version, `${current.version}.yaml`, `${current.version}.json`]);
  if (current.signature) accepted.add(current.signature);
  return condition.tags.some((tag) => accepted.has(tag));
}

/** Whether the request asks for JSON rather than YAML (YAML is the default representation). */
export function wantsJson(req: Request): boolean {
  const accept = String(req.headers.accept ?? '');
  return accept.includes('application/json') && !accept.includes('yaml');
}
