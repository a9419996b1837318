/**
 * Package management under `/api/v1/management`:
 *
 * - `POST /packages[?version=X]` (admin): the raw .tgz as the body
 *   (`Content-Type: application/gzip` or `application/octet-stream`). The
 *   version is read from the package's own package.json; a `version` query
 *   parameter must agree with it. An `X-Package-Signature` header carries the
 *   package's Ed25519 signature (base64, from `npm run package:agent --
 *   --sign-key`): it is stored and passed on in upgrade commands, for agents
 *   that pin the signing key to verify. 201 with the record (version, sha256,
 *   size, uploaded_at, uploaded_by, signature); 400 `invalid_package`, 400
 *   `invalid_signature` (malformed header, or one that does not verify with
 *   Fusion's own `packagePublicKey` when it has one: then a signature is
 *   required too, 400 `signature_required`), 400 `version_mismatch`,
 *   409 `package_exists`, 413 `payload_too_large`, 415 `unsupported_media_type`.
 *   The archive is unpacked as a stream, off the event loop, and refused
 *   (`invalid_package`) once it unpacks past 64 MiB, or when a path is both
 *   a file and a directory.
 * - `GET /packages` (viewer): `{ packages: [...] }`, oldest upload first.
 * - `GET /packages/:version` (viewer): one record.
 * - `DELETE /packages/:version[?force=true]` (admin): 204. 409
 *   `package_in_use` while upgrade commands naming the version are not
 *   finished or a rollout of it is running or halted (details list them).
 *   With `force=true` it halts those rollouts, cancels the commands not yet
 *   acknowledged (reason "package deleted"), deletes the package and answers
 *   200 with what it did ({@link PackageRelease}).
 */
import express, { Router } from 'express';
import { inspectAgentPackageStreamed, InvalidPackageError, PackageVersion } from '../../shared/package/agent-package.js';
import { keyFingerprint, PACKAGE_SIGNATURE_HEADER, PackageSignature, verifyingKey, verifyPackage } from '../../shared/package/package-signature.js';
import { adminOf, requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import { HttpError, notFound } from '../http/errors.js';
import type { PackageStore } from './package-store.js';
import type { PackageUsageGuard } from './package-usage.js';

/** Content types an upload may have. */
const PACKAGE_TYPES = ['application/gzip', 'application/x-gzip', 'application/octet-stream'];

/** Default upload limit: 128 MiB (an agent package is well under 1 MiB). */
export const DEFAULT_MAX_PACKAGE_BYTES = 128 * 1024 * 1024;
/** Default limit on what an upload unpacks to: 64 MiB; a larger package is refused as `invalid_package`. */
export const DEFAULT_MAX_UNPACKED_PACKAGE_BYTES = 64 * 1024 * 1024;

/** Validates a `:version` route parameter or `version` query parameter. */
export function versionParam(value: unknown): string {
  const parsed = PackageVersion.safeParse(value);
  if (!parsed.success) throw new HttpError(400, 'bad_request', `invalid package version: ${parsed.error.issues[0]?.message ?? 'malformed'}`);
  return parsed.data;
}

/** The upload's signature header: null when absent, 400 `invalid_signature` when malformed. */
function signatureHeader(value: string | string[] | undefined): string | null {
  if (value === undefined || value === '') return null;
  const parsed = PackageSignature.safeParse(Array.isArray(value) ? value[0] : value.trim());
  if (!parsed.success) throw new HttpError(400, 'invalid_signature', `${PACKAGE_SIGNATURE_HEADER}: ${parsed.error.issues[0]?.message ?? 'malformed'}`);
  return parsed.data;
}

/** `?force=` of a delete: absent or "false" is false, "true" is true, anything else a 400. */
function forceParam(value: unknown): boolean {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw new HttpError(400, 'bad_request', 'force must be true or false');
}

export function packageRoutes(deps: {
  tokens: TokenStore;
  packages: PackageStore;
  usage: PackageUsageGuard;
  maxPackageBytes?: number | undefined;
  maxUnpackedBytes?: number | undefined;
  /** When set (PEM), an upload must carry a signature this key verifies. */
  packagePublicKey?: string | undefined;
}): Router {
  const router = Router();
  const viewer = requireAdmin(deps.tokens, 'viewer');
  const admin = requireAdmin(deps.tokens, 'admin');
  const maxBytes = deps.maxPackageBytes ?? DEFAULT_MAX_PACKAGE_BYTES;
  const raw = express.raw({ type: PACKAGE_TYPES, limit: maxBytes });
  const pinned = deps.packagePublicKey === undefined ? undefined : verifyingKey(deps.packagePublicKey);

  const maxUnpacked = deps.maxUnpackedBytes ?? DEFAULT_MAX_UNPACKED_PACKAGE_BYTES;

  router.post('/packages', admin, raw, async (req, res) => {
    if (!Buffer.isBuffer(req.body)) {
      throw new HttpError(415, 'unsupported_media_type', "send the package as the raw body with Content-Type application/gzip or application/octet-stream");
    }
    if (req.body.length === 0) throw new HttpError(400, 'invalid_package', 'the request body is empty');
    let manifest;
    try {
      manifest = (await inspectAgentPackageStreamed(req.body, maxUnpacked)).manifest;
    } catch (err) {
      if (err instanceof InvalidPackageError) throw new HttpError(400, 'invalid_package', err.message);
      throw err;
    }
    if (req.query.version !== undefined) {
      const claimed = versionParam(req.query.version);
      if (claimed !== manifest.version) {
        throw new HttpError(400, 'version_mismatch', `the package's package.json says version ${manifest.version}, the request says ${claimed}`);
      }
    }
    const signature = signatureHeader(req.headers[PACKAGE_SIGNATURE_HEADER]);
    if (pinned && signature === null) {
      throw new HttpError(400, 'signature_required', `this Fusion accepts only packages signed by ${keyFingerprint(pinned)}: send the signature in ${PACKAGE_SIGNATURE_HEADER}`);
    }
    if (pinned && signature !== null && !verifyPackage(req.body, signature, pinned)) {
      throw new HttpError(400, 'invalid_signature', `the package's signature does not verify with ${keyFingerprint(pinned)}`);
    }
    const record = await deps.packages.add(manifest.version, req.body, adminOf(req).name, signature);
    res.status(201).json(record);
  });

  router.get('/packages', viewer, async (_req, res) => {
    res.json({ packages: await deps.packages.list() });
  });

  router.get('/packages/:version', viewer, async (req, res) => {
    const version = versionParam(req.params.version);
    const record = await deps.packages.get(version);
    if (!record) throw notFound(`package ${version}`);
    res.json(record);
  });

  router.delete('/packages/:version', admin, async (req, res) => {
    const version = versionParam(req.params.version);
    const force = forceParam(req.query.force);
    if (!(await deps.packages.get(version))) throw notFound(`package ${version}`);
    if (!force) {
      // The check and the delete hold the version's lock, which storing an upgrade command or rollout of it takes too.
      if (!(await deps.packages.remove(version, () => deps.usage.assertUnused(version)))) throw notFound(`package ${version}`);
      res.status(204).end();
      return;
    }
    const released = await deps.usage.release(version);
    if (!(await deps.packages.remove(version))) throw notFound(`package ${version}`);
    // What was stored between the release and the delete (nothing can be stored after it) is released too.
    const late = await deps.usage.release(version);
    res.json({
      version,
      cancelled_commands: [...released.cancelled_commands, ...late.cancelled_commands],
      running_commands: [...new Set([...released.running_commands, ...late.running_commands])],
      halted_rollouts: [...new Set([...released.halted_rollouts, ...late.halted_rollouts])],
    });
  });

  return router;
}
