/**
 * What an agent package is, for the three parties that handle one: the
 * packaging script that builds it, Fusion that stores and serves it, and the
 * agent that installs it. A package is a gzipped tar in `npm pack` layout:
 *
 *   package/package.json     name "fustor-agent", version, bin
 *   package/dist/agent.mjs   the agent, one self-contained ESM bundle
 *   package/dist/launcher.mjs  the supervisor that runs and upgrades the agent
 *
 * so `npm install -g fustor-agent-<version>.tgz` works without a registry.
 */
import { z } from 'zod';
import { readTarGz, readTarGzStreamed, TarError, type TarEntry } from './tar.js';

/** The `name` every agent package declares. */
export const AGENT_PACKAGE_NAME = 'fustor-agent';

/** Directory every member of a package lives under (npm pack layout). */
export const PACKAGE_ROOT = 'package';

/** The agent bundle, relative to the package root. */
export const AGENT_BUNDLE = 'dist/agent.mjs';

/** The launcher bundle, relative to the package root. */
export const LAUNCHER_BUNDLE = 'dist/launcher.mjs';

/** Path (under Fusion's base URL) an agent downloads package `<version>` from. */
export const CONTROL_PACKAGES_PATH = '/api/v1/control/packages';

/** A package version: safe as a file and directory name, e.g. "0.2.0" or "0.2.0-rc.1". */
export const PackageVersion = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[0-9A-Za-z][0-9A-Za-z.+_-]*$/, 'letters, digits, dot, plus, dash and underscore, starting with a letter or digit');

/** The package.json of an agent package (other keys are kept as they are). */
export const AgentPackageManifest = z.looseObject({
  name: z.literal(AGENT_PACKAGE_NAME),
  version: PackageVersion,
});
export type AgentPackageManifest = z.infer<typeof AgentPackageManifest>;

/** File name of a package, as `npm run package:agent` writes it. */
export function packageFileName(version: string): string {
  return `fustor-agent-${version}.tgz`;
}

/** A package that was read and checked: its manifest and its files relative to the package root. */
export interface InspectedPackage {
  manifest: AgentPackageManifest;
  entries: TarEntry[];
}

/** The package is not an agent package (unreadable, no manifest, no bundle). */
export class InvalidPackageError extends Error {
  readonly code = 'invalid_package';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidPackageError';
  }
}

/**
 * Reads a package and checks it is an agent package: every member under
 * `package/`, a package.json naming fustor-agent with a valid version, and the
 * agent bundle present. Returned paths are relative to the package root.
 * Throws {@link InvalidPackageError}.
 */
export function inspectAgentPackage(archive: Buffer, maxUnpackedBytes?: number): InspectedPackage {
  let raw: TarEntry[];
  try {
    raw = readTarGz(archive, maxUnpackedBytes === undefined ? {} : { maxBytes: maxUnpackedBytes });
  } catch (err) {
    if (err instanceof TarError) throw new InvalidPackageError(err.message);
    throw err;
  }
  return checkPackage(raw);
}

/**
 * {@link inspectAgentPackage} without blocking the event loop: the archive is
 * unpacked as a stream and abandoned past `maxUnpackedBytes` (see
 * readTarGzStreamed). Rejects with {@link InvalidPackageError}.
 */
export async function inspectAgentPackageStreamed(archive: Buffer, maxUnpackedBytes: number): Promise<InspectedPackage> {
  let raw: TarEntry[];
  try {
    raw = await readTarGzStreamed(archive, { maxBytes: maxUnpackedBytes });
  } catch (err) {
    if (err instanceof TarError) throw new InvalidPackageError(err.message);
    throw err;
  }
  return checkPackage(raw);
}

function checkPackage(raw: TarEntry[]): InspectedPackage {
  const entries: TarEntry[] = [];
  for (const entry of raw) {
    if (entry.path === PACKAGE_ROOT && entry.type === 'dir') continue;
    if (!entry.path.startsWith(`${PACKAGE_ROOT}/`)) throw new InvalidPackageError(`member "${entry.path}" is outside ${PACKAGE_ROOT}/`);
    entries.push({ ...entry, path: entry.path.slice(PACKAGE_ROOT.length + 1) });
  }
  const manifestEntry = entries.find((e) => e.type === 'file' && e.path === 'package.json');
  if (!manifestEntry || manifestEntry.type !== 'file') throw new InvalidPackageError(`no ${PACKAGE_ROOT}/package.json in the package`);
  let json: unknown;
  try {
    json = JSON.parse(manifestEntry.data.toString('utf8'));
  } catch (err) {
    throw new InvalidPackageError(`package.json is not JSON: ${(err as Error).message}`);
  }
  const manifest = AgentPackageManifest.safeParse(json);
  if (!manifest.success) {
    throw new InvalidPackageError(`package.json: ${manifest.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  if (!entries.some((e) => e.type === 'file' && e.path === AGENT_BUNDLE)) throw new InvalidPackageError(`no ${PACKAGE_ROOT}/${AGENT_BUNDLE} in the package`);
  return { manifest: manifest.data, entries };
}
