/** Codes of the ways an upgrade can fail before the agent restarts. */
export type UpgradeErrorCode = 'no_launcher' | 'missing_sha256' | 'download_failed' | 'sha256_mismatch' | 'invalid_package' | 'install_failed' | 'busy' | 'signature_missing' | 'signature_invalid';

/** An upgrade that was refused or failed; the message is the command's failure reason. */
export class UpgradeError extends Error {
  constructor(
    readonly code: UpgradeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'UpgradeError';
  }
}
