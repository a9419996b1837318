import { diffDocuments } from '../../shared/config/index.js';
import type { ConfigFrame, PatchOperation } from '../../shared/protocol/index.js';
import type { DesiredConfig } from './config-service.js';

/**
 * What to send an agent that runs `runningSignature` so it reaches `desired`:
 * nothing when it already runs it; a JSON Patch when Fusion knows the agent's
 * document and the patch is smaller than the document; else the full document.
 */
export function planConfigFrame(
  desired: DesiredConfig,
  runningSignature: string | null,
  lookupDocument: (signature: string) => Record<string, unknown> | undefined,
  forceFull = false,
): ConfigFrame | null {
  if (runningSignature === desired.signature && !forceFull) return null;
  const full: ConfigFrame = {
    type: 'config',
    encoding: 'full',
    revision: desired.revision,
    signature: desired.signature,
    document: desired.document,
  };
  if (forceFull || runningSignature === null) return full;
  const base = lookupDocument(runningSignature);
  if (!base) return full;
  const patch = diffDocuments(base, desired.document);
  const patchFrame: ConfigFrame = {
    type: 'config',
    encoding: 'patch',
    revision: desired.revision,
    signature: desired.signature,
    base_signature: runningSignature,
    patch: patch as PatchOperation[],
  };
  return JSON.stringify(patchFrame).length < JSON.stringify(full).length ? patchFrame : full;
}
