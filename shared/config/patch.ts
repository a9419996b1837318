import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { configSignature } from './signature.js';

export type { Operation };

/** RFC 6902 operations that turn `base` into `target`. */
export function diffDocuments(base: object, target: object): Operation[] {
  return jsonpatch.compare(base, target);
}

export type PatchOutcome = { ok: true; document: Record<string, unknown> } | { ok: false; reason: string };

/**
 * Applies a patch to a copy of `base` and checks the result against the
 * expected signature. A patch that does not apply, or yields another document,
 * is reported (the caller then asks for the full document); `base` is never changed.
 */
export function applyDocumentPatch(base: object, patch: readonly Operation[], expectedSignature: string): PatchOutcome {
  let document: Record<string, unknown>;
  try {
    // One pass: the copy is patched with every operation validated as it is
    // applied (a bad one throws), so a patch that fails leaves `base` as it was.
    document = jsonpatch.applyPatch(base as Record<string, unknown>, patch as Operation[], true, false, true).newDocument;
  } catch (err) {
    return { ok: false, reason: `patch does not apply: ${(err as Error).message.split('\n')[0]}` };
  }
  const actual = configSignature(document);
  if (actual !== expectedSignature) {
    return { ok: false, reason: `signature mismatch after patch: expected ${expectedSignature}, got ${actual}` };
  }
  return { ok: true, document };
}
