// Shared by the bins: import one entry point of the compiled tree (dist/, from
// `npm run build`, which `npm install` runs through `prepare`), or say how to
// build it when it is missing.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** `entry` is relative to dist/, e.g. `server/main.js`. */
export async function runCompiled(command, entry) {
  const file = fileURLToPath(new URL(`../dist/${entry}`, import.meta.url));
  if (!existsSync(file)) {
    process.stderr.write(`${command}: ${file} is missing; build it with: npm run build\n`);
    process.exit(1);
  }
  await import(pathToFileURL(file).href);
}
