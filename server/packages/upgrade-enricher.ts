/**
 * Fills an `upgrade` command's `sha256` from the package table before the
 * command is stored, so the agent verifies what it downloads against the hash
 * Fusion recorded at upload. A version that was never uploaded is refused
 * with 400 `unknown_package`; a sha256 given by the admin must match. The
 * package's signature, when it was uploaded with one, goes in `signature`,
 * for agents that pin the signing key.
 */
import { HttpError } from '../http/errors.js';
import { unknownPackage, type PackageStore } from './package-store.js';

export function upgradeEnricher(packages: PackageStore): (args: Record<string, unknown>) => Promise<Record<string, unknown>> {
  return async (args) => {
    const version = String(args.version);
    const record = await packages.get(version);
    if (!record) throw unknownPackage(version);
    if (args.sha256 !== undefined && args.sha256 !== record.sha256) {
      throw new HttpError(400, 'sha256_mismatch', `args.sha256 does not match the uploaded package ${version} (${record.sha256})`);
    }
    if (args.signature !== undefined && args.signature !== record.signature) {
      throw new HttpError(400, 'signature_mismatch', `args.signature is not the signature uploaded with package ${version}`);
    }
    return { ...args, sha256: record.sha256, ...(record.signature !== null && { signature: record.signature }) };
  };
}
