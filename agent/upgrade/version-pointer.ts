/**
 * The `current` pointer: a symbolic link `agent/current -> versions/<version>`
 * naming the installed version the launcher runs; no link means the agent the
 * launcher was installed with. Switching writes a new link beside the old one
 * and renames it over, so a crash leaves either the old or the new pointer.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { PackageVersion } from '../../shared/package/agent-package.js';
import { upgradePaths } from './upgrade-paths.js';

/** The version `current` points to, or null when there is no pointer. Throws on a pointer that names no valid version. */
export async function readCurrentVersion(home: string): Promise<string | null> {
  const paths = upgradePaths(home);
  let target: string;
  try {
    target = await readlink(paths.current);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const version = path.basename(target);
  if (path.resolve(paths.root, target) !== paths.version(version) || !PackageVersion.safeParse(version).success) {
    throw new Error(`${paths.current} points to ${target}, which is not an installed version`);
  }
  return version;
}

/** Points `current` at `version` (null removes the pointer), atomically. */
export async function switchCurrentVersion(home: string, version: string | null): Promise<void> {
  const paths = upgradePaths(home);
  if (version === null) {
    await rm(paths.current, { force: true });
    return;
  }
  if (!PackageVersion.safeParse(version).success) throw new Error(`invalid version "${version}"`);
  await mkdir(paths.root, { recursive: true, mode: 0o700 });
  const temp = path.join(paths.root, `.current.${process.pid}.${randomBytes(6).toString('hex')}`);
  await symlink(path.join('versions', version), temp);
  try {
    await rename(temp, paths.current);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
