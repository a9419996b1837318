/**
 * The second step of `npm run build` (after tsc): Fusion (server/main.ts) and
 * fustorctl (cli/fustorctl.ts) bundled with esbuild into one file each, which
 * bin/fusion.js and bin/fustorctl.js run. Loading some 200 modules file by
 * file is most of a start; one file roughly halves it (docs/benchmarks.md).
 * Packages stay outside only when they must: better-sqlite3 loads a native
 * addon by path.
 *
 * Fusion's parse worker is bundled too, as dist/bin/parse-worker.cjs (the pool
 * starts it beside the bundle). Fusion's bundle, dist/bin/fusion.cjs, is CommonJS so that bin/fusion.js can
 * compile it with V8's code cache, which this step writes beside it
 * (dist/bin/fusion.cjs.cache, scripts/code-cache.ts): Node 20 keeps no code
 * cache for ES modules, and compiling the 3 MB bundle was the largest part of
 * a start. fustorctl's bundle stays an ES module, dist/bin/fustorctl.mjs.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { build, type BuildOptions } from 'esbuild';
import { REPOSITORY_ROOT, REQUIRE_SHIM } from './agent-package-builder.js';
import { writeCodeCache } from './code-cache.js';
import { escapeNonAscii, zodEnglishOnly } from './lib/bundle-plugins.js';

const COMMON: BuildOptions = {
  absWorkingDir: REPOSITORY_ROOT,
  outdir: path.join('dist', 'bin'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  external: ['better-sqlite3', 'bufferutil', 'utf-8-validate'],
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
};

async function main(): Promise<void> {
  // The build id ties the code cache to this very bundle (bin/load-bundle.js).
  const buildId = randomBytes(16).toString('hex');
  const fusionBundle: BuildOptions = {
    ...COMMON,
    outExtension: { '.js': '.cjs' },
    format: 'cjs',
    // The sources are ES modules: strict mode, and import.meta.url names the bundle file.
    define: { 'import.meta.url': '__fustorBundleUrl' },
    plugins: [zodEnglishOnly],
    banner: { js: ["'use strict';", `// fustor-build ${buildId}`, "const __fustorBundleUrl = require('node:url').pathToFileURL(__filename).href;"].join('\n') },
  };
  // The entry carries its own #! line, which stays the first line.
  await build({ ...fusionBundle, entryPoints: [{ in: 'server/main.ts', out: 'fusion' }] });
  // The parse pool's worker (server/parse/parse-pool.ts starts it beside the bundle).
  await build({ ...fusionBundle, entryPoints: [{ in: 'server/parse/parse-worker.ts', out: 'parse-worker' }], sourcemap: false });
  await build({
    ...COMMON,
    entryPoints: [{ in: 'cli/fustorctl.ts', out: 'fustorctl' }],
    outExtension: { '.js': '.mjs' },
    format: 'esm',
    banner: { js: REQUIRE_SHIM },
  });
  const fusion = path.join(REPOSITORY_ROOT, 'dist', 'bin', 'fusion.cjs');
  await escapeNonAscii(fusion);
  try {
    await writeCodeCache(fusion);
  } catch (err) {
    // Fusion runs without its cache, only slower to start; test/build/code-cache.test.ts notices.
    process.stderr.write(`build: warning: ${err instanceof Error ? err.message : String(err)}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`build: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
