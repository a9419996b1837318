// Run by scripts/code-cache.ts with plain node (the V8 flags `node bin/fusion.js`
// runs with, which a code cache must match): `node code-cache-child.mjs <bundle> [fusion args]`.
// Runs the bundle as bin/fusion.js does but without a cache, and when the
// process exits (SIGTERM once Fusion listens) writes V8's code cache: by then
// it holds the bytecode of every function the start ran.
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildIdOf, cacheFileOf, compileBundle } from '../../bin/load-bundle.js';

const file = path.resolve(process.argv.splice(2, 1)[0]);
const bundle = compileBundle(file, { useCache: false });
const id = buildIdOf(bundle.source);
if (!id) throw new Error(`${file} carries no build id`);
// Stopped by the build once Fusion listens, whether or not Fusion's own handler is in place yet.
process.once('SIGTERM', () => process.exit(0));
process.on('exit', () => {
  const target = cacheFileOf(file);
  writeFileSync(`${target}.tmp`, Buffer.concat([Buffer.from(`${id}\n`), bundle.script.createCachedData()]));
  renameSync(`${target}.tmp`, target);
});
bundle.run();
