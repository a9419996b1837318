import { diffDocuments } from '../../shared/config/index.js';
import { encodeFrame, type ConfigFrame, type PatchOperation } from '../../shared/protocol/index.js';
import type { DesiredConfig } from './config-service.js';

/** A config frame to send, with its encoded text (encoded once, sent as is). */
export interface PlannedConfig {
  frame: ConfigFrame;
  text: string;
}

/**
 * What to send an agent that runs `runningSignature` so it reaches `desired`:
 * nothing when it already runs it; a JSON Patch when Fusion knows the agent's
 * document and the patch is smaller than the document; else the full document.
 * The result depends only on the arguments' signatures and revision (documents
 * are stored by signature and never change), so callers may reuse it.
 */
export function planConfigFrame(
  desired: DesiredConfig,
  runningSignature: string | null,
  lookupDocument: (signature: string) => Record<string, unknown> | undefined,
  forceFull = false,
): PlannedConfig | null {
  if (runningSignature === desired.signature && !forceFull) return null;
  const full: ConfigFrame = {
    type: 'config',
    encoding: 'full',
    revision: desired.revision,
    signature: desired.signature,
    document: desired.document,
  };
  if (forceFull || runningSignature === null) return { frame: full, text: encodeFrame(full) };
  const base = lookupDocument(runningSignature);
  if (!base) return { frame: full, text: encodeFrame(full) };
  const patch = diffDocuments(base, desired.document);
  const patchFrame: ConfigFrame = {
    type: 'config',
    encoding: 'patch',
    revision: desired.revision,
    signature: desired.signature,
    base_signature: runningSignature,
    patch: patch as PatchOperation[],
  };
  const patchText = encodeFrame(patchFrame);
  if (patchText.length < fullFrameLength(full, desired.documentText)) return { frame: patchFrame, text: patchText };
  return { frame: full, text: encodeFrame(full) };
}

/**
 * The length of the full frame's text. With the document's JSON at hand it is
 * the length of the frame without its document (a few dozen characters to
 * encode) plus that JSON's, less the `null` standing in for it: the document
 * itself is not encoded again just to be weighed against a patch.
 */
function fullFrameLength(full: ConfigFrame & { encoding: 'full' }, documentText: string | undefined): number {
  if (documentText === undefined) return encodeFrame(full).length;
  return encodeFrame({ ...full, document: null }).length - 'null'.length + documentText.length;
}
