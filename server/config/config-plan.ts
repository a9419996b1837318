import { diffDocuments } from '../../shared/config/index.js';
import { encodeFrame, type ConfigFrame, type PatchOperation } from '../../shared/protocol/index.js';
import type { DesiredConfig } from './config-service.js';

/** A config frame to send, with its encoded text (encoded once, sent as is). */
export interface PlannedConfig {
  frame: ConfigFrame;
  text: string;
}

/** The values of the secrets a document references and the digest of their versions. */
export interface SecretBundle {
  values: Record<string, string>;
  digest: string;
}

/**
 * What to send an agent that runs `runningSignature` so it reaches `desired`:
 * nothing when it already runs it (with the secret versions of `secrets`); a
 * JSON Patch when Fusion knows the agent's document and the patch is smaller
 * than the document; else the full document. A document that references
 * secrets travels with their values (`secrets`); when only the secrets
 * changed (a rotation), the frame is an empty patch to the same signature.
 * The result depends only on the arguments' signatures, revision and secrets
 * digests (documents are stored by signature and never change), so callers may reuse it.
 */
export function planConfigFrame(
  desired: DesiredConfig,
  runningSignature: string | null,
  lookupDocument: (signature: string) => Record<string, unknown> | undefined,
  forceFull = false,
  secrets: { bundle: SecretBundle | null; runningDigest: string | null } = { bundle: null, runningDigest: null },
): PlannedConfig | null {
  const bundle = secrets.bundle;
  const withSecrets = bundle ? { secrets: bundle.values, secrets_digest: bundle.digest } : {};
  const patchFrame = (base: string, patch: PatchOperation[]): ConfigFrame => ({
    type: 'config',
    encoding: 'patch',
    revision: desired.revision,
    signature: desired.signature,
    ...withSecrets,
    base_signature: base,
    patch,
  });
  if (runningSignature === desired.signature && !forceFull) {
    if (!bundle || secrets.runningDigest === bundle.digest) return null;
    const rotation = patchFrame(runningSignature, []);
    return { frame: rotation, text: encodeFrame(rotation) };
  }
  const full: ConfigFrame = {
    type: 'config',
    encoding: 'full',
    revision: desired.revision,
    signature: desired.signature,
    ...withSecrets,
    document: desired.document,
  };
  if (forceFull || runningSignature === null) return { frame: full, text: encodeFrame(full) };
  const base = lookupDocument(runningSignature);
  if (!base) return { frame: full, text: encodeFrame(full) };
  const patch = patchFrame(runningSignature, diffDocuments(base, desired.document) as PatchOperation[]);
  const patchText = encodeFrame(patch);
  if (patchText.length < fullFrameLength(full, desired.documentText)) return { frame: patch, text: patchText };
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
