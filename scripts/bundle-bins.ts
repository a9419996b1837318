/**
 * The second step of `npm run build` (after tsc): Fusion (server/main.ts) and
 * fustorctl (cli/fustorctl.ts) bundled with esbuild into one ESM file each,
 * dist/bin/fusion.mjs and dist/bin/fustorctl.mjs, which bin/fusion.js and
 * bin/fustorctl.js run. Loading some 200 modules file by file is most of a
 * start; one file roughly halves it (docs/benchmarks.md). Packages stay
 * outside only when they must: better-sqlite3 loads a native addon by path.
 */
import path from 'node:path';
import { build } from 'esbuild';
import { REPOSITORY_ROOT, REQUIRE_SHIM } from './agent-package-builder.js';

async function main(): Promise<void> {
  await build({
    absWorkingDir: REPOSITORY_ROOT,
    entryPoints: [
      { in: 'server/main.ts', out: 'fusion' },
      { in: 'cli/fustorctl.ts', out: 'fustorctl' },
    ],
    outdir: path.join('dist', 'bin'),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['better-sqlite3', 'bufferutil', 'utf-8-validate'],
    // The entries carry their own #! line.
    banner: { js: REQUIRE_SHIM },
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'warning',
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`build: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
