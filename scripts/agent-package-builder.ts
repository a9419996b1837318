/**
 * Builds an agent package from this repository: the agent and its launcher,
 * each bundled with esbuild into one self-contained ESM file, plus a
 * package.json, packed as `fustor-agent-<version>.tgz` in `npm pack` layout.
 * Installing it needs no registry: it has no dependencies, and no native modules.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import {
  AGENT_BUNDLE,
  AGENT_PACKAGE_NAME,
  LAUNCHER_BUNDLE,
  PACKAGE_ROOT,
  PackageVersion,
  inspectAgentPackage,
  packageFileName,
} from '../shared/package/agent-package.js';
import { signPackage } from '../shared/package/package-signature.js';
import { writeTarGz, type TarEntry } from '../shared/package/tar.js';
import type { KeyObject } from 'node:crypto';

/** The repository root. */
export const REPOSITORY_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface BuildAgentPackageOptions {
  /** Directory the .tgz is written to (created when missing). */
  outDir: string;
  /** Version to stamp; defaults to the repository's package.json version. */
  version?: string;
  /** Ed25519 private key: the package is signed and the signature written beside it as `<file>.sig` (base64). */
  signKey?: KeyObject;
}

export interface BuiltAgentPackage {
  file: string;
  version: string;
  sha256: string;
  size: number;
  /** Base64 Ed25519 signature of the file, when it was signed. */
  signature?: string;
  /** Where the signature was written. */
  signatureFile?: string;
}

/**
 * Bundles with esbuild. The CommonJS dependencies (pino, ws) call `require`
 * for Node built-ins, which an ESM file lacks: these lines give it one.
 */
export const REQUIRE_SHIM = ["import { createRequire as __fustorCreateRequire } from 'node:module';", 'const require = __fustorCreateRequire(import.meta.url);'].join('\n');
/** The agent's and the launcher's first lines; ws's optional native helpers stay out of the bundle (ws works without them). */
const BANNER = ['#!/usr/bin/env node', REQUIRE_SHIM].join('\n');

export async function buildAgentPackage(options: BuildAgentPackageOptions): Promise<BuiltAgentPackage> {
  const repo = JSON.parse(await readFile(path.join(REPOSITORY_ROOT, 'package.json'), 'utf8')) as { version: string; license?: string };
  const version = PackageVersion.parse(options.version ?? repo.version);
  const result = await build({
    absWorkingDir: REPOSITORY_ROOT,
    entryPoints: [
      { in: 'agent/main.ts', out: 'agent' },
      { in: 'agent/launcher/package-main.ts', out: 'launcher' },
    ],
    outdir: 'dist',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['bufferutil', 'utf-8-validate'],
    banner: { js: BANNER },
    legalComments: 'none',
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  refuseNativeModules(result.metafile);
  const output = (name: string): Buffer => {
    const file = result.outputFiles.find((f) => path.basename(f.path) === name);
    if (!file) throw new Error(`esbuild produced no ${name}`);
    return Buffer.from(file.contents);
  };
  const manifest = {
    name: AGENT_PACKAGE_NAME,
    version,
    description: 'Fustor agent: collects file-system metadata and pushes it to Fusion (self-contained bundle)',
    type: 'module',
    license: repo.license ?? 'UNLICENSED',
    engines: { node: '>=20' },
    bin: { 'fustor-agent': LAUNCHER_BUNDLE },
    files: ['dist/'],
  };
  const entries: TarEntry[] = [
    { type: 'file', path: `${PACKAGE_ROOT}/package.json`, mode: 0o644, data: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`) },
    { type: 'file', path: `${PACKAGE_ROOT}/${AGENT_BUNDLE}`, mode: 0o755, data: output('agent.mjs') },
    { type: 'file', path: `${PACKAGE_ROOT}/${LAUNCHER_BUNDLE}`, mode: 0o755, data: output('launcher.mjs') },
  ];
  const archive = writeTarGz(entries);
  inspectAgentPackage(archive); // what Fusion and the agent will check, checked here first
  await mkdir(options.outDir, { recursive: true });
  const file = path.resolve(options.outDir, packageFileName(version));
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, archive);
  await rename(temp, file);
  const built: BuiltAgentPackage = { file, version, sha256: createHash('sha256').update(archive).digest('hex'), size: archive.length };
  if (options.signKey) {
    const signature = signPackage(archive, options.signKey);
    await writeFile(`${file}.sig`, `${signature}\n`);
    Object.assign(built, { signature, signatureFile: `${file}.sig` });
  }
  return built;
}

/** The agent must run on any node without a compiler: a native addon in the bundle graph is a build error. */
function refuseNativeModules(metafile: Metafile): void {
  const native = Object.keys(metafile.inputs).filter((input) => input.endsWith('.node') || input.includes('node_modules/better-sqlite3/'));
  if (native.length > 0) throw new Error(`the agent bundle would need native modules: ${native.join(', ')}`);
}
