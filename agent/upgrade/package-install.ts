/**
 * Unpacks a verified package into `agent/versions/<version>`. The files are
 * written into a staging directory first and renamed into place, so a version
 * directory is either complete or absent. Older versions other than the one
 * running (needed for a rollback) are removed.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inspectAgentPackage, InvalidPackageError } from '../../shared/package/agent-package.js';
import { UpgradeError } from './upgrade-error.js';
import { upgradePaths } from './upgrade-paths.js';

/** Largest unpacked package, in bytes. */
const MAX_UNPACKED_BYTES = 512 * 1024 * 1024;

/**
 * Installs `archive` as `version` and returns its directory. Rejects with an
 * {@link UpgradeError} when the archive is not an agent package of that version.
 * `keep` names installed versions that must survive the clean-up.
 */
export async function installPackage(home: string, archive: Buffer, version: string, keep: readonly string[]): Promise<string> {
  let inspected;
  try {
    inspected = inspectAgentPackage(archive, MAX_UNPACKED_BYTES);
  } catch (err) {
    if (err instanceof InvalidPackageError) throw new UpgradeError('invalid_package', `package ${version} is not an agent package: ${err.message}`);
    throw err;
  }
  if (inspected.manifest.version !== version) {
    throw new UpgradeError('invalid_package', `package ${version} declares version ${inspected.manifest.version} in its package.json`);
  }
  const paths = upgradePaths(home);
  const target = paths.version(version);
  const staging = path.join(paths.versions, `.staging-${version}-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(staging, { recursive: true, mode: 0o755 });
    for (const entry of inspected.entries) {
      const file = path.join(staging, ...entry.path.split('/'));
      if (entry.type === 'dir') {
        await mkdir(file, { recursive: true, mode: 0o755 });
        continue;
      }
      await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
      await writeFile(file, entry.data, { mode: 0o644 });
      // Keep the execute bits a package sets on its bin files; never setuid or world-writable.
      await chmod(file, (entry.mode & 0o755) | 0o644);
    }
    await removeTree(target, paths.versions);
    await rename(staging, target);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw new UpgradeError('install_failed', `cannot install package ${version} into ${target}: ${(err as Error).message}`);
  }
  await pruneVersions(home, [...keep, version]);
  return target;
}

/** Removes installed versions (and abandoned staging directories) that are not in `keep`. */
export async function pruneVersions(home: string, keep: readonly string[]): Promise<void> {
  const paths = upgradePaths(home);
  let names: string[];
  try {
    names = await readdir(paths.versions);
  } catch {
    return;
  }
  for (const name of names) {
    if (keep.includes(name)) continue;
    await removeTree(path.join(paths.versions, name), paths.versions).catch(() => undefined);
  }
}

/** Removes a directory by first renaming it aside, so a half-removed version is never found under its name. */
async function removeTree(dir: string, parent: string): Promise<void> {
  const aside = path.join(parent, `.removing-${randomBytes(6).toString('hex')}`);
  try {
    await rename(dir, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await rm(aside, { recursive: true, force: true });
}
