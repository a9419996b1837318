/**
 * The `upgrade` command, up to the restart: download the package Fusion
 * serves, verify the sha256 Fusion recorded (and, when the agent pins a
 * package signing key, the package's Ed25519 signature), unpack it beside the running
 * version, record the upgrade, switch `current` and ask the launcher for a
 * restart. Any failure before the switch leaves everything as it was and
 * becomes the command's failure reason; the outcome after the switch is
 * reported by whichever version runs next (see UpgradeCompletion).
 */
import type { Logger } from '../../shared/logger.js';
import { PackageVersion } from '../../shared/package/agent-package.js';
import { keyFingerprint, verifyingKey, verifyPackage } from '../../shared/package/package-signature.js';
import type { KeyObject } from 'node:crypto';
import type { LauncherLink } from '../launcher/launcher-link.js';
import { downloadPackage, type PackageGetter } from './package-download.js';
import { installPackage } from './package-install.js';
import { UpgradeError } from './upgrade-error.js';
import { writeUpgradeState, type UpgradeState } from './upgrade-state.js';
import { readCurrentVersion, switchCurrentVersion } from './version-pointer.js';

export interface UpgraderOptions {
  home: string;
  /** The control plane URL in use, read when a download starts (it changes as the agent fails over between replicas). */
  controlPlaneUri?: (() => string) | undefined;
  /** GETs from the control plane with the agent's credential. */
  get: PackageGetter;
  /** The version this agent runs. */
  runningVersion: string;
  launcher: LauncherLink;
  logger: Logger;
  /** Largest package accepted. Default 256 MiB. */
  maxPackageBytes?: number;
  /** Time allowed for the download. Default 5 minutes. */
  downloadTimeoutMs?: number;
  /** The pinned package signing key (PEM, bootstrap `package_public_key`): only packages it signed are installed. */
  packagePublicKey?: string | undefined;
}

export type Upgrader = (args: { version: string; sha256?: string; signature?: string }, commandId: string) => Promise<Record<string, unknown>>;

export function createUpgrader(options: UpgraderOptions): Upgrader {
  let busy = false;
  const pinned = options.packagePublicKey === undefined ? undefined : verifyingKey(options.packagePublicKey);
  return async (args, commandId) => {
    if (busy) throw new UpgradeError('busy', 'another upgrade is in progress');
    const version = PackageVersion.safeParse(args.version);
    if (!version.success) throw new UpgradeError('invalid_package', `"${args.version}" is not a package version`);
    if (!args.sha256) throw new UpgradeError('missing_sha256', 'the upgrade command carries no sha256 to verify the package with');
    if (pinned && !args.signature) {
      throw new UpgradeError(
        'signature_missing',
        `this agent installs only packages signed by ${keyFingerprint(pinned)} (package_public_key) and package ${version.data} was uploaded without a signature; not installed`,
      );
    }
    if (version.data === options.runningVersion) {
      return { version: version.data, previous_version: options.runningVersion, restarted: false, detail: `already running ${version.data}` };
    }
    if (!options.controlPlaneUri) throw new UpgradeError('download_failed', 'no control plane to download the package from');
    busy = true;
    try {
      await prepareAndSwitch(options, commandId, version.data, args.sha256, pinned && { key: pinned, signature: args.signature! });
    } catch (err) {
      busy = false;
      throw err;
    }
    options.launcher.restart(`upgrade to ${version.data}`);
    // The process exits; the version started next reports this command's outcome.
    return new Promise<never>(() => undefined);
  };
}

async function prepareAndSwitch(
  options: UpgraderOptions,
  commandId: string,
  version: string,
  sha256: string,
  signed: { key: KeyObject; signature: string } | undefined,
): Promise<void> {
  const { home, logger } = options;
  logger.info({ command_id: commandId, version, from: options.runningVersion }, 'downloading agent package');
  const archive = await downloadPackage({
    get: options.get,
    controlPlaneUri: options.controlPlaneUri!(),
    version,
    sha256,
    maxBytes: options.maxPackageBytes ?? 256 * 1024 * 1024,
    timeoutMs: options.downloadTimeoutMs ?? 300_000,
  });
  if (signed && !verifyPackage(archive, signed.signature, signed.key)) {
    throw new UpgradeError('signature_invalid', `package ${version} is not signed by the pinned key ${keyFingerprint(signed.key)} (package_public_key); not installed`);
  }
  const previous = await readCurrentVersion(home);
  const dir = await installPackage(home, archive, version, previous === null ? [] : [previous]);
  const state: UpgradeState = {
    command_id: commandId,
    from_version: options.runningVersion,
    to_version: version,
    previous_pointer: previous,
    phase: 'switched',
    switched_at: Date.now(),
    reported: false,
  };
  await writeUpgradeState(home, state);
  try {
    await switchCurrentVersion(home, version);
  } catch (err) {
    const reason = `cannot switch the current version to ${version}: ${(err as Error).message}`;
    // The command fails right here, so the record is already reported.
    await writeUpgradeState(home, { ...state, phase: 'rolled_back', reason, finished_at: Date.now(), reported: true });
    throw new UpgradeError('install_failed', reason);
  }
  logger.info({ command_id: commandId, version, dir }, 'agent package installed; restarting into it');
}
