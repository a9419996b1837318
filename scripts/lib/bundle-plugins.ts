/**
 * What scripts/bundle-bins.ts does to Fusion's bundle so that it loads fast
 * (docs/benchmarks.md, "Start time").
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Plugin } from 'esbuild';

/**
 * zod's `locales` namespace (error messages in some 50 languages, a third of
 * zod in the bundle) reduced to English, the only one Fusion uses: zod sets
 * it as the default itself (classic/schemas.js imports locales/en.js), and no
 * module of Fusion reaches `z.locales` or `z.core.locales`.
 */
export const zodEnglishOnly: Plugin = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${path.sep}zod${path.sep}`) ? { path: path.join(args.resolveDir, '..', 'locales', 'index.js'), namespace: 'zod-english-only' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(path.join(path.dirname(args.path), 'en.js'))};`,
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
};

/**
 * Makes a bundle pure ASCII, which bin/load-bundle.js then reads as a one-byte
 * string: a single non-ASCII character makes Node decode the whole file as
 * UTF-8 into a two-byte string, slower to read and to compile. esbuild already
 * escapes non-ASCII characters in strings, regular expressions and identifiers
 * (its default `charset: 'ascii'`); what is left is in comments, where a
 * `\uXXXX` escape changes nothing. Each UTF-16 unit is escaped, so a
 * character outside the BMP becomes its surrogate pair, as esbuild writes it.
 */
export async function escapeNonAscii(file: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  const ascii = text.replace(/[^\x00-\x7f]/g, (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (ascii !== text) await writeFile(file, ascii);
}
